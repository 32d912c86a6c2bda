/*
 * libsamrt's error paths and tracker, driven from C the way a plugin host would (CAbiTests compiles and runs it).
 *
 *   usage: abi_check MODEL_DIR FRAME0.rgba FRAME1.rgba WIDTH HEIGHT OUT_DIR
 *
 * FRAMEn.rgba are raw packed RGBA frames. Every error path must give its code and a message naming the problem;
 * each check prints "ok" or "FAIL" and the exit status is the number of failures. Two objects (a box and a point)
 * are tracked through the two frames: one "track" line per frame and object, masks to OUT_DIR/track_<frame>_<id>.raw,
 * for the test to compare with the C# tracker; the prompt checks then run on the last tracked frame.
 */
#define _POSIX_C_SOURCE 199309L
#include <samrt.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;

/* Checks that the last call returned `want` and that samrt_last_error() contains `needle`. */
static void expect(const char* what, int got, int want, const char* needle)
{
    const char* msg = samrt_last_error();
    int ok = got == want && msg != NULL && strstr(msg, needle) != NULL;
    printf("%s %s: %d \"%s\"\n", ok ? "ok" : "FAIL", what, got, msg ? msg : "(null)");
    if (!ok) {
        printf("     expected %d and a message containing \"%s\"\n", want, needle);
        failures++;
    }
}

static void expect_true(const char* what, int cond)
{
    printf("%s %s\n", cond ? "ok" : "FAIL", what);
    if (!cond) failures++;
}

static uint8_t* read_raw(const char* path, size_t bytes)
{
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t* p = malloc(bytes);
    if (p && fread(p, 1, bytes, f) != bytes) { free(p); p = NULL; }
    fclose(f);
    return p;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char** argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: %s MODEL_DIR FRAME0.rgba FRAME1.rgba WIDTH HEIGHT OUT_DIR\n", argv[0]);
        return 100;
    }
    const char* model_dir = argv[1];
    int w = atoi(argv[4]), h = atoi(argv[5]);
    size_t n = (size_t)w * (size_t)h;
    uint8_t* frames[2] = { read_raw(argv[2], n * 4), read_raw(argv[3], n * 4) };
    uint8_t* masks = malloc(n * 3);
    if (!frames[0] || !frames[1] || !masks) { fprintf(stderr, "cannot read the frames\n"); return 100; }
    float pt[2] = { 10, 10 }, far_pt[2] = { (float)w + 100, 10 }, box[4] = { 10, 10, 50, 50 }, score;
    int one = 1, seven = 7, iw, ih;
    samrt_object objs[3];

    expect_true("version", samrt_version() == SAMRT_VERSION);
    expect_true("no error at start", strcmp(samrt_last_error(), "") == 0);

    /* ---- creation */
    expect("create NULL", samrt_create(NULL) == NULL ? -1 : 0, -1, "model_dir is NULL");
    expect("create missing dir", samrt_create("/nonexistent/minisam") == NULL ? -1 : 0, -1, "/nonexistent/minisam");
    const char* first = samrt_last_error();
    expect_true("last_error stable across reads and samrt_version",
                samrt_version() == SAMRT_VERSION && samrt_last_error() == first && strstr(first, "not found") != NULL);
    expect("create_ex unknown flag", samrt_create_ex(model_dir, NULL, 0x80) == NULL ? -1 : 0, -1, "flags");
    expect("create_ex unknown device", samrt_create_ex(model_dir, "no-such-gpu", 0) == NULL ? -1 : 0, -1, "no-such-gpu");

    /* ---- bad handles */
    expect("predict NULL ctx", samrt_predict(NULL, pt, &one, 1, NULL, masks, &score), SAMRT_E_INVALID_HANDLE, "samrt_ctx is NULL");
    expect("set_image NULL ctx", samrt_set_image_rgba8(NULL, frames[0], w, h, w * 4), SAMRT_E_INVALID_HANDLE, "NULL");
    expect("foreign pointer", samrt_image_size((samrt_ctx*)&iw, &iw, &ih), SAMRT_E_INVALID_HANDLE, "not a samrt_ctx from this library");
    samrt_destroy(NULL);
    expect_true("destroy NULL is a no-op", strcmp(samrt_last_error(), "") == 0);

    double t0 = now_ms();
    samrt_ctx* ctx = samrt_create(model_dir);
    if (!ctx) { printf("FAIL create: %s\n", samrt_last_error()); return 100; }
    printf("create: %.1f ms\n", now_ms() - t0);
    expect_true("no error after success", strcmp(samrt_last_error(), "") == 0);

    /* ---- before an image */
    expect("predict before set_image", samrt_predict(ctx, pt, &one, 1, NULL, masks, &score), SAMRT_E_NO_IMAGE, "samrt_set_image_rgba8");
    expect("image_size before set_image", samrt_image_size(ctx, &iw, &ih), SAMRT_E_NO_IMAGE, "no image");

    /* ---- bad images */
    expect("set_image NULL pixels", samrt_set_image_rgba8(ctx, NULL, w, h, w * 4), SAMRT_E_INVALID_ARGUMENT, "rgba is NULL");
    expect("set_image negative width", samrt_set_image_rgba8(ctx, frames[0], -5, h, w * 4), SAMRT_E_INVALID_ARGUMENT, "-5x");
    expect("set_image short stride", samrt_set_image_rgba8(ctx, frames[0], w, h, w * 3), SAMRT_E_INVALID_ARGUMENT, "stride_bytes");
    expect("set_image over the size limit", samrt_set_image_rgba8(ctx, frames[0], 9000, 10, 9000 * 4), SAMRT_E_INVALID_ARGUMENT,
           "the longest side may be at most 8192 pixels");

    /* ---- a tracker prompt outside the frame is refused before the frame is encoded */
    samrt_tracker* bad = samrt_tracker_create(ctx);
    expect_true("tracker_create", bad != NULL);
    expect("tracker as ctx", samrt_predict((samrt_ctx*)bad, pt, &one, 1, NULL, masks, &score), SAMRT_E_INVALID_HANDLE, "is a samrt_tracker, not a samrt_ctx");
    int id = samrt_tracker_add_object(bad, far_pt, &one, 1, NULL);
    expect_true("add_object returns an id", id > 0);
    expect("track with a point outside", samrt_tracker_track(bad, frames[0], w, h, w * 4, masks, objs, 3), SAMRT_E_INVALID_ARGUMENT, "object 1");
    expect("correct unknown id", samrt_tracker_correct(bad, 99, pt, &one, 1, NULL), SAMRT_E_INVALID_ARGUMENT, "no object 99");
    /* Limits: refused from the count alone, before the arrays are read (they hold one point here). */
    expect("100000 points", samrt_tracker_add_object(bad, pt, &one, 100000, NULL), SAMRT_E_INVALID_ARGUMENT,
           "A prompt has 100000 points; at most 256 are accepted.");
    int added = 0;
    for (int i = 1; i < SAMRT_MAX_OBJECTS; i++) added += samrt_tracker_add_object(bad, pt, &one, 1, NULL) > 0;
    expect_true("objects up to the limit", added == SAMRT_MAX_OBJECTS - 1);
    expect("65th object", samrt_tracker_add_object(bad, pt, &one, 1, NULL), SAMRT_E_INVALID_ARGUMENT, "65 objects; at most 64 are accepted");
    samrt_tracker_destroy(bad);
    expect("destroyed tracker", samrt_tracker_num_objects(bad), SAMRT_E_INVALID_HANDLE, "destroyed");

    /* ---- the tracker the test compares with C#: the truck's front tyre by box, its window by a click */
    samrt_tracker* tr = samrt_tracker_create(ctx);
    float tyre[4] = { 425, 600, 700, 875 }, window[2] = { 500, 375 };
    int a = samrt_tracker_add_object(tr, NULL, NULL, 0, tyre);
    int b = samrt_tracker_add_object(tr, window, &one, 1, NULL);
    expect_true("two objects", a > 0 && b > 0 && samrt_tracker_num_objects(tr) == 2);
    expect("track capacity 1", samrt_tracker_track(tr, frames[0], w, h, w * 4, masks, objs, 1), SAMRT_E_BUFFER_TOO_SMALL, "capacity 1");
    for (int f = 0; f < 2; f++) {
        t0 = now_ms();
        int count = samrt_tracker_track(tr, frames[f], w, h, w * 4, masks, objs, 3);
        if (count != 2) { printf("FAIL track frame %d: %d %s\n", f, count, samrt_last_error()); failures++; break; }
        printf("track frame %d: %.1f ms\n", f, now_ms() - t0);
        for (int i = 0; i < count; i++) {
            printf("track %d %d %d %.9g %.9g %d %d %d %d\n", f, objs[i].id, objs[i].state, objs[i].score,
                   objs[i].similarity, objs[i].box[0], objs[i].box[1], objs[i].box[2], objs[i].box[3]);
            char path[4096];
            snprintf(path, sizeof path, "%s/track_%d_%d.raw", argv[6], f, objs[i].id);
            FILE* out = fopen(path, "wb");
            if (!out || fwrite(masks + (size_t)i * n, 1, n, out) != n) { printf("FAIL writing %s\n", path); failures++; }
            if (out) fclose(out);
        }
    }

    /* The tracker left its last frame as the context's image (each encoder pass costs seconds on a CPU driver). */
    expect_true("image_size", samrt_image_size(ctx, &iw, &ih) == SAMRT_OK && iw == w && ih == h);
    char name[8];
    int len = samrt_device_name(ctx, name, (int)sizeof name);
    expect_true("device_name cut to the buffer", len > 0 && strlen(name) == (size_t)(len < 7 ? len : 7));

    /* ---- bad prompts */
    expect("point outside", samrt_predict(ctx, far_pt, &one, 1, NULL, masks, &score), SAMRT_E_INVALID_ARGUMENT, "outside");
    expect("labels NULL", samrt_predict(ctx, pt, NULL, 1, NULL, masks, &score), SAMRT_E_INVALID_ARGUMENT, "labels is NULL");
    expect("bad label", samrt_predict(ctx, pt, &seven, 1, NULL, masks, &score), SAMRT_E_INVALID_ARGUMENT, "labels[0] is 7");
    expect("negative count", samrt_predict(ctx, pt, &one, -1, NULL, masks, &score), SAMRT_E_INVALID_ARGUMENT, "num_points -1");
    expect("empty prompt", samrt_predict(ctx, NULL, NULL, 0, NULL, masks, &score), SAMRT_E_INVALID_ARGUMENT, "empty prompt");
    float flipped[4] = { 50, 50, 10, 10 };
    expect("inverted box", samrt_predict(ctx, NULL, NULL, 0, flipped, masks, &score), SAMRT_E_INVALID_ARGUMENT, "Box");
    expect("mask_out NULL", samrt_predict(ctx, pt, &one, 1, NULL, NULL, &score), SAMRT_E_INVALID_ARGUMENT, "mask_out is NULL");

    /* ---- a good prediction, timed warm, and multimask */
    expect("predict", samrt_predict(ctx, NULL, NULL, 0, box, masks, NULL), SAMRT_OK, "");
    t0 = now_ms();
    for (int i = 0; i < 3; i++) samrt_predict(ctx, pt, &one, 1, NULL, masks, &score);
    printf("predict: %.1f ms (mean of 3)\n", (now_ms() - t0) / 3);
    float scores[3];
    int best = samrt_predict_multimask(ctx, pt, &one, 1, NULL, masks, scores);
    expect_true("multimask best", best >= 0 && best < 3 && scores[best] >= scores[0] && scores[best] >= scores[1] && scores[best] >= scores[2]);

    char messages[4096];
    int nmsg = samrt_take_validation_messages(ctx, messages, (int)sizeof messages);
    expect_true("no validation messages", nmsg == 0);
    if (nmsg > 0) printf("%s", messages);

    /* ---- after destroy */
    samrt_destroy(ctx);
    expect("predict on destroyed ctx", samrt_predict(ctx, pt, &one, 1, NULL, masks, &score), SAMRT_E_INVALID_HANDLE, "destroyed");
    expect("track after its ctx was destroyed", samrt_tracker_track(tr, frames[1], w, h, w * 4, masks, objs, 3), SAMRT_E_INVALID_HANDLE, "destroyed");
    samrt_tracker_destroy(tr);
    expect_true("tracker_destroy after ctx", strcmp(samrt_last_error(), "") == 0);
    samrt_destroy(ctx);
    expect("destroy twice", 0, 0, "destroyed");

    free(frames[0]);
    free(frames[1]);
    free(masks);
    printf("%d failure(s)\n", failures);
    return failures;
}
