/*
 * samrt_everything from C (CAbiTests compiles and runs it): the defaults, the error paths, and one small run whose
 * masks the test compares with the C# generator's.
 *
 *   usage: everything_check MODEL_DIR IMAGE.rgba WIDTH HEIGHT OUT_DIR
 *
 * Prints "ok"/"FAIL" per check (the exit status is the number of failures), then "count N" and one line per mask:
 * "mask INDEX AREA X Y W H RLE"; writes the label image to OUT_DIR/labels.raw (uint16 per pixel).
 */
#include <samrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

static void expect(const char* what, int got, int want, const char* needle)
{
    const char* msg = samrt_last_error();
    int ok = got == want && strstr(msg, needle) != NULL;
    printf("%s %s: %d \"%s\"\n", ok ? "ok" : "FAIL", what, got, msg);
    if (!ok) failures++;
}

int main(int argc, char** argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE.rgba WIDTH HEIGHT OUT_DIR\n", argv[0]);
        return 100;
    }
    int w = atoi(argv[3]), h = atoi(argv[4]);
    size_t n = (size_t)w * (size_t)h;
    uint8_t* rgba = malloc(n * 4);
    uint16_t* labels = malloc(n * sizeof(uint16_t));
    FILE* f = fopen(argv[2], "rb");
    if (!f || !rgba || !labels || fread(rgba, 1, n * 4, f) != n * 4) { fprintf(stderr, "cannot read the image\n"); return 100; }
    fclose(f);

    samrt_everything_options o;
    samrt_everything_defaults(&o);
    int defaults = o.points_per_side == 32 && o.points_per_batch == 0 && o.pred_iou_thresh == 0.88f
                   && o.stability_score_thresh == 0.95f && o.stability_score_offset == 1.0f && o.box_nms_thresh == 0.7f
                   && o.crop_n_layers == 0 && o.crop_nms_thresh == 0.7f && o.crop_overlap_ratio == (float)(512.0 / 1500)
                   && o.crop_n_points_downscale_factor == 1 && o.min_mask_region_area == 0;
    printf("%s defaults\n", defaults ? "ok" : "FAIL");
    if (!defaults) failures++;
    expect("defaults NULL", samrt_everything_defaults(NULL), SAMRT_E_INVALID_ARGUMENT, "options is NULL");
    expect("everything NULL ctx", samrt_everything(NULL, rgba, w, h, 4 * w, NULL, NULL), SAMRT_E_INVALID_HANDLE, "samrt_ctx");

    samrt_ctx* ctx = samrt_create(argv[1]);
    if (!ctx) { fprintf(stderr, "samrt_create: %s\n", samrt_last_error()); return 100; }
    char rle[1 << 16];
    expect("mask before a run", samrt_everything_mask(ctx, 0, NULL, rle, sizeof rle), SAMRT_E_NO_IMAGE, "samrt_everything first");
    o.points_per_side = 0;
    expect("bad points_per_side", samrt_everything(ctx, rgba, w, h, 4 * w, &o, NULL), SAMRT_E_INVALID_ARGUMENT, "points_per_side 0");
    samrt_everything_defaults(&o);
    o.box_nms_thresh = 1.5f;
    expect("bad box_nms_thresh", samrt_everything(ctx, rgba, w, h, 4 * w, &o, NULL), SAMRT_E_INVALID_ARGUMENT, "box_nms_thresh 1.5");
    samrt_everything_defaults(&o);
    expect("stride too small", samrt_everything(ctx, rgba, w, h, w, &o, NULL), SAMRT_E_INVALID_ARGUMENT, "stride_bytes");

    o.points_per_side = 2; /* 4 prompts: one small decoder batch */
    int count = samrt_everything(ctx, rgba, w, h, 4 * w, &o, labels);
    printf("%s run: %d \"%s\"\ncount %d\n", count > 0 ? "ok" : "FAIL", count, samrt_last_error(), count);
    if (count <= 0) failures++;
    for (int i = 0; i < count; i++) {
        samrt_mask_info info;
        int len = samrt_everything_mask(ctx, i, &info, rle, sizeof rle);
        if (len < 0 || len >= (int)sizeof rle) { printf("FAIL mask %d: %d \"%s\"\n", i, len, samrt_last_error()); failures++; continue; }
        printf("mask %d %d %d %d %d %d %s\n", i, info.area, info.bbox_x, info.bbox_y, info.bbox_w, info.bbox_h, rle);
    }
    expect("mask index past the end", samrt_everything_mask(ctx, count, NULL, NULL, 0), SAMRT_E_INVALID_ARGUMENT, "index");
    /* The image became the current one: prompts work on it. */
    int iw = 0, ih = 0;
    samrt_image_size(ctx, &iw, &ih);
    printf("%s current image %dx%d\n", iw == w && ih == h ? "ok" : "FAIL", iw, ih);
    if (iw != w || ih != h) failures++;

    char path[4096];
    snprintf(path, sizeof path, "%s/labels.raw", argv[5]);
    FILE* out = fopen(path, "wb");
    if (!out || fwrite(labels, sizeof(uint16_t), n, out) != n) { fprintf(stderr, "cannot write %s\n", path); return 100; }
    fclose(out);
    samrt_destroy(ctx);
    free(rgba);
    free(labels);
    return failures;
}
