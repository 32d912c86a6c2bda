/*
 * libsamrt's engine pass driven from C by a host engine of our own (CAbiTests compiles it with -lvulkan and runs it).
 *
 *   usage: pass_check MODEL_DIR IMAGE.rgba WIDTH HEIGHT
 *
 * IMAGE.rgba is a raw packed RGBA image. The host makes its own instance (API 1.2; with SAMRT_VALIDATION=1 also
 * VK_LAYER_KHRONOS_validation, VK_EXT_debug_utils and a messenger of its own counting every warning and error),
 * a device with one graphics+compute queue and timelineSemaphore, an RGBA8 source image holding IMAGE and an R8 mask
 * image. The library adopts them (samrt_create_on_host); one object (a click on the truck's window) goes through a
 * pass recorded into the host's command buffer and one submitted by the library with timeline semaphores, and both
 * masks must equal samrt_predict's on the same pixels. The error paths must give their code and a message naming the
 * problem, and after the library is gone the host device must still work and validation must have said nothing.
 * Each check prints "ok" or "FAIL"; the exit status is the number of failures plus validation messages (100: the
 * host could not be set up).
 */
#define _POSIX_C_SOURCE 199309L
#include <samrt.h>
#include <vulkan/vulkan.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;
static int vk_messages = 0;

#define VK_CHECK(call)                                                                      \
    do {                                                                                    \
        VkResult r_ = (call);                                                               \
        if (r_ != VK_SUCCESS) {                                                             \
            printf("FAIL %s: VkResult %d (line %d)\n", #call, (int)r_, __LINE__);           \
            exit(100);                                                                      \
        }                                                                                   \
    } while (0)

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

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT types,
                                                 const VkDebugUtilsMessengerCallbackDataEXT* data, void* user)
{
    (void)types;
    (void)user;
    vk_messages++;
    printf("vulkan %s: %s\n", severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? "error" : "warning",
           data->pMessage);
    return VK_FALSE;
}

/* ---------------------------------------------------------------- the host engine */

typedef struct host {
    int validation;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkPhysicalDeviceMemoryProperties memory;
    VkDevice device;
    uint32_t family;
    VkQueue queue;
    VkCommandPool pool;
} host;

typedef struct image {
    VkImage image;
    VkDeviceMemory memory;
} image;

typedef struct buffer {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void* mapped;
} buffer;

static const char* debug_utils = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;

static void host_create(host* h)
{
    const char* layer = "VK_LAYER_KHRONOS_validation";
    const char* env = getenv("SAMRT_VALIDATION");
    h->validation = env != NULL && strcmp(env, "1") == 0;
    VkDebugUtilsMessengerCreateInfoEXT mci = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
    VkApplicationInfo app = { .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO, .pApplicationName = "pass_check",
                              .apiVersion = VK_API_VERSION_1_2 };
    VkInstanceCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        /* Chained, so vkCreateInstance and vkDestroyInstance are covered too. */
        .pNext = h->validation ? &mci : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = h->validation ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = h->validation ? 1 : 0,
        .ppEnabledExtensionNames = &debug_utils,
    };
    VK_CHECK(vkCreateInstance(&ici, NULL, &h->instance));
    if (h->validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(h->instance, "vkCreateDebugUtilsMessengerEXT");
        VK_CHECK(create(h->instance, &mci, NULL, &h->messenger));
    }

    uint32_t n = 1;
    VkResult r = vkEnumeratePhysicalDevices(h->instance, &n, &h->physical);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) { printf("FAIL no Vulkan device\n"); exit(100); }
    vkGetPhysicalDeviceMemoryProperties(h->physical, &h->memory);

    VkQueueFamilyProperties families[16];
    uint32_t nf = 16;
    vkGetPhysicalDeviceQueueFamilyProperties(h->physical, &nf, families);
    h->family = UINT32_MAX;
    for (uint32_t i = 0; i < nf && h->family == UINT32_MAX; i++)
        if ((families[i].queueFlags & (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT)) == (VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT))
            h->family = i;
    if (h->family == UINT32_MAX) { printf("FAIL no graphics+compute queue family\n"); exit(100); }

    VkPhysicalDeviceTimelineSemaphoreFeatures timeline = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_TIMELINE_SEMAPHORE_FEATURES };
    VkPhysicalDeviceFeatures2 f2 = { .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &timeline };
    vkGetPhysicalDeviceFeatures2(h->physical, &f2);
    if (!timeline.timelineSemaphore) { printf("FAIL the device has no timelineSemaphore\n"); exit(100); }
    /* Enable only what the pass needs, so the declaration below is exactly what was enabled. */
    memset(&f2.features, 0, sizeof f2.features);
    float priority = 1;
    VkDeviceQueueCreateInfo qci = { .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO, .queueFamilyIndex = h->family,
                                    .queueCount = 1, .pQueuePriorities = &priority };
    VkDeviceCreateInfo dci = { .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO, .pNext = &f2, .queueCreateInfoCount = 1,
                               .pQueueCreateInfos = &qci };
    VK_CHECK(vkCreateDevice(h->physical, &dci, NULL, &h->device));
    vkGetDeviceQueue(h->device, h->family, 0, &h->queue);
    VkCommandPoolCreateInfo pci = { .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO, .queueFamilyIndex = h->family };
    VK_CHECK(vkCreateCommandPool(h->device, &pci, NULL, &h->pool));
}

static VkDeviceMemory allocate(host* h, VkMemoryRequirements req, VkMemoryPropertyFlags flags)
{
    for (uint32_t i = 0; i < h->memory.memoryTypeCount; i++)
        if ((req.memoryTypeBits & (1u << i)) && (h->memory.memoryTypes[i].propertyFlags & flags) == flags) {
            VkMemoryAllocateInfo mai = { .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size,
                                         .memoryTypeIndex = i };
            VkDeviceMemory m;
            VK_CHECK(vkAllocateMemory(h->device, &mai, NULL, &m));
            return m;
        }
    printf("FAIL no memory type for flags 0x%x\n", (unsigned)flags);
    exit(100);
}

static image image_create(host* h, int w, int hgt, VkFormat format, VkImageUsageFlags usage)
{
    VkImageCreateInfo ici = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_CREATE_INFO, .imageType = VK_IMAGE_TYPE_2D, .format = format,
        .extent = { (uint32_t)w, (uint32_t)hgt, 1 }, .mipLevels = 1, .arrayLayers = 1, .samples = VK_SAMPLE_COUNT_1_BIT,
        .tiling = VK_IMAGE_TILING_OPTIMAL, .usage = usage, .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .initialLayout = VK_IMAGE_LAYOUT_UNDEFINED,
    };
    image im;
    VK_CHECK(vkCreateImage(h->device, &ici, NULL, &im.image));
    VkMemoryRequirements req;
    vkGetImageMemoryRequirements(h->device, im.image, &req);
    im.memory = allocate(h, req, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    VK_CHECK(vkBindImageMemory(h->device, im.image, im.memory, 0));
    return im;
}

static void image_destroy(host* h, image* im)
{
    vkDestroyImage(h->device, im->image, NULL);
    vkFreeMemory(h->device, im->memory, NULL);
}

static buffer buffer_create(host* h, VkDeviceSize size, VkBufferUsageFlags usage)
{
    VkBufferCreateInfo bci = { .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO, .size = size, .usage = usage,
                               .sharingMode = VK_SHARING_MODE_EXCLUSIVE };
    buffer b;
    VK_CHECK(vkCreateBuffer(h->device, &bci, NULL, &b.buffer));
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(h->device, b.buffer, &req);
    b.memory = allocate(h, req, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    VK_CHECK(vkBindBufferMemory(h->device, b.buffer, b.memory, 0));
    VK_CHECK(vkMapMemory(h->device, b.memory, 0, VK_WHOLE_SIZE, 0, &b.mapped));
    return b;
}

static void buffer_destroy(host* h, buffer* b)
{
    vkUnmapMemory(h->device, b->memory);
    vkDestroyBuffer(h->device, b->buffer, NULL);
    vkFreeMemory(h->device, b->memory, NULL);
}

static VkCommandBuffer begin(host* h)
{
    VkCommandBufferAllocateInfo cai = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = h->pool,
                                        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = 1 };
    VkCommandBuffer cmd;
    VK_CHECK(vkAllocateCommandBuffers(h->device, &cai, &cmd));
    VkCommandBufferBeginInfo bi = { .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT };
    VK_CHECK(vkBeginCommandBuffer(cmd, &bi));
    return cmd;
}

/* Ends, submits and waits for cmd on the host's fence, then frees it. */
static void submit_and_wait(host* h, VkCommandBuffer cmd)
{
    VK_CHECK(vkEndCommandBuffer(cmd));
    VkFenceCreateInfo fci = { .sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
    VkFence fence;
    VK_CHECK(vkCreateFence(h->device, &fci, NULL, &fence));
    VkSubmitInfo si = { .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd };
    VK_CHECK(vkQueueSubmit(h->queue, 1, &si, fence));
    VK_CHECK(vkWaitForFences(h->device, 1, &fence, VK_TRUE, UINT64_MAX));
    vkDestroyFence(h->device, fence, NULL);
    vkFreeCommandBuffers(h->device, h->pool, 1, &cmd);
}

static void image_barrier(VkCommandBuffer cmd, VkImage im, VkImageLayout from, VkImageLayout to)
{
    VkImageMemoryBarrier b = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT,
        .oldLayout = from, .newLayout = to,
        .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED, .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .image = im, .subresourceRange = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1 },
    };
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 0, NULL, 0, NULL, 1, &b);
}

static VkBufferImageCopy whole(int w, int hgt)
{
    VkBufferImageCopy region = { .imageSubresource = { VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1 },
                                 .imageExtent = { (uint32_t)w, (uint32_t)hgt, 1 } };
    return region;
}

/* Records a copy of a whole image in TRANSFER_SRC_OPTIMAL into b, made visible to the host. */
static void record_readback(VkCommandBuffer cmd, VkImage im, int w, int hgt, buffer* b)
{
    VkBufferImageCopy region = whole(w, hgt);
    vkCmdCopyImageToBuffer(cmd, im, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, b->buffer, 1, &region);
    VkMemoryBarrier mb = { .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                           .dstAccessMask = VK_ACCESS_HOST_READ_BIT };
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Reads a whole image that is in `layout` (and stays there). */
static void read_image(host* h, VkImage im, int w, int hgt, VkImageLayout layout, buffer* b)
{
    VkCommandBuffer cmd = begin(h);
    image_barrier(cmd, im, layout, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL);
    record_readback(cmd, im, w, hgt, b);
    image_barrier(cmd, im, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL, layout);
    submit_and_wait(h, cmd);
}

static VkSemaphore timeline_create(host* h)
{
    VkSemaphoreTypeCreateInfo t = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_TYPE_CREATE_INFO, .semaphoreType = VK_SEMAPHORE_TYPE_TIMELINE };
    VkSemaphoreCreateInfo sci = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO, .pNext = &t };
    VkSemaphore s;
    VK_CHECK(vkCreateSemaphore(h->device, &sci, NULL, &s));
    return s;
}

/* ---------------------------------------------------------------- masks */

/* IoU of two 0/255 masks and the number of pixels where they differ at all. */
static double iou(const uint8_t* a, const uint8_t* b, size_t n, size_t* differ, size_t* area)
{
    size_t inter = 0, uni = 0;
    *differ = 0;
    *area = 0;
    for (size_t i = 0; i < n; i++) {
        int x = a[i] != 0, y = b[i] != 0;
        inter += x && y;
        uni += x || y;
        *differ += a[i] != b[i];
        *area += x;
    }
    return uni == 0 ? 1.0 : (double)inter / (double)uni;
}

static void compare_masks(const char* what, const uint8_t* got, const uint8_t* want, size_t n)
{
    size_t differ, area;
    double v = iou(got, want, n, &differ, &area);
    printf("%s: IoU %.6f with samrt_predict, %zu pixel(s) differ, area %zu\n", what, v, differ, area);
    char label[128];
    snprintf(label, sizeof label, "%s equals samrt_predict's mask (IoU >= 0.999, non-trivial)", what);
    expect_true(label, v >= 0.999 && area > 1000);
}

int main(int argc, char** argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s MODEL_DIR IMAGE.rgba WIDTH HEIGHT\n", argv[0]);
        return 100;
    }
    const char* model_dir = argv[1];
    int w = atoi(argv[3]), h = atoi(argv[4]);
    size_t n = (size_t)w * (size_t)h;
    uint8_t* pixels = malloc(n * 4);
    uint8_t* expected = malloc(n);
    FILE* f = fopen(argv[2], "rb");
    if (!f || !pixels || !expected || fread(pixels, 1, n * 4, f) != n * 4) { fprintf(stderr, "cannot read %s\n", argv[2]); return 100; }
    fclose(f);
    float click[2] = { 500, 375 }, far_pt[2] = { 5000, 10 };
    int one = 1, id = 0, count = 0;
    double t0;
    samrt_pass_object objs[4];

    /* ---- the host engine: instance, device, queue, its source and mask images */
    host hs;
    host_create(&hs);
    image source = image_create(&hs, w, h, VK_FORMAT_R8G8B8A8_UNORM,
                                VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
    image mask = image_create(&hs, w, h, VK_FORMAT_R8_UNORM,
                              VK_IMAGE_USAGE_TRANSFER_SRC_BIT | VK_IMAGE_USAGE_TRANSFER_DST_BIT | VK_IMAGE_USAGE_SAMPLED_BIT);
    buffer staging = buffer_create(&hs, n * 4, VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    buffer readback = buffer_create(&hs, n, VK_BUFFER_USAGE_TRANSFER_DST_BIT);
    {
        /* As if the host had rendered the picture and sampled it: left in SHADER_READ_ONLY_OPTIMAL. */
        memcpy(staging.mapped, pixels, n * 4);
        VkCommandBuffer cmd = begin(&hs);
        image_barrier(cmd, source.image, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL);
        VkBufferImageCopy region = whole(w, h);
        vkCmdCopyBufferToImage(cmd, staging.buffer, source.image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region);
        image_barrier(cmd, source.image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL);
        submit_and_wait(&hs, cmd);
    }
    printf("host: queue family %u, validation %s\n", hs.family, hs.validation ? "on" : "off");

    samrt_vulkan_host desc = {
        .instance = hs.instance,
        .physical_device = hs.physical,
        .device = hs.device,
        .queue_family = hs.family,
        .queue_index = 0,
        /* The host's own entry point: the library then dispatches through the same loader chain. */
        .get_instance_proc_addr = (void*)vkGetInstanceProcAddr,
        .instance_api_version = VK_API_VERSION_1_2,
        .enabled_features = SAMRT_FEATURE_TIMELINE_SEMAPHORE,
        .instance_extensions = hs.validation ? &debug_utils : NULL,
        .instance_extension_count = hs.validation ? 1 : 0,
    };

    /* ---- creation errors: nothing is created, the host's objects are untouched */
    expect("create_on_host NULL host", samrt_create_on_host(model_dir, NULL, 0) == NULL ? -1 : 0, -1, "host is NULL");
    samrt_vulkan_host bad = desc;
    bad.device = NULL;
    expect("create_on_host NULL device", samrt_create_on_host(model_dir, &bad, 0) == NULL ? -1 : 0, -1, "host->device is NULL");
    bad = desc;
    bad.enabled_features = 0x80;
    expect("create_on_host unknown feature", samrt_create_on_host(model_dir, &bad, 0) == NULL ? -1 : 0, -1, "enabled_features 0x80");
    bad = desc;
    bad.instance_extension_count = 2;
    bad.instance_extensions = NULL;
    expect("create_on_host NULL extension list", samrt_create_on_host(model_dir, &bad, 0) == NULL ? -1 : 0, -1, "instance_extensions is NULL");
    bad = desc;
    bad.queue_family = 99;
    expect("create_on_host missing queue family", samrt_create_on_host(model_dir, &bad, 0) == NULL ? -1 : 0, -1, "queue family 99");
    bad = desc;
    bad.instance_api_version = VK_API_VERSION_1_0;
    expect("create_on_host Vulkan 1.0 instance", samrt_create_on_host(model_dir, &bad, 0) == NULL ? -1 : 0, -1, "apiVersion 1.1");
    bad = desc;
    bad.instance_extensions = NULL;
    bad.instance_extension_count = 0;
    expect("create_on_host validation without debug utils", samrt_create_on_host(model_dir, &bad, SAMRT_CREATE_VALIDATION) == NULL ? -1 : 0,
           -1, "VK_EXT_debug_utils");

    t0 = now_ms();
    samrt_ctx* ctx = samrt_create_on_host(model_dir, &desc, 0);
    if (!ctx) { printf("FAIL create_on_host: %s\n", samrt_last_error()); return 100; }
    printf("create_on_host: %.1f ms\n", now_ms() - t0);

    /* ---- pass creation and objects */
    samrt_pass_options options = SAMRT_PASS_OPTIONS_DEFAULT;
    samrt_pass_options zero_slots = options;
    zero_slots.frames_in_flight = 0;
    expect("pass_create NULL ctx", samrt_pass_create(NULL, &options) == NULL ? -2 : 0, -2, "samrt_ctx is NULL");
    expect("pass_create 0 frames in flight", samrt_pass_create(ctx, &zero_slots) == NULL ? -1 : 0, -1, "frames_in_flight 0");
    samrt_pass* pass = samrt_pass_create(ctx, &options);
    if (!pass) { printf("FAIL pass_create: %s\n", samrt_last_error()); return 100; }
    int iw, ih;
    expect("pass as ctx", samrt_image_size((samrt_ctx*)pass, &iw, &ih), SAMRT_E_INVALID_HANDLE, "is a samrt_pass, not a samrt_ctx");
    expect("add_object labels NULL", samrt_pass_add_object(pass, click, NULL, 1, NULL, &id), SAMRT_E_INVALID_ARGUMENT, "labels is NULL");
    expect("add_object id_out NULL", samrt_pass_add_object(pass, click, &one, 1, NULL, NULL), SAMRT_E_INVALID_ARGUMENT, "id_out is NULL");
    expect("update unknown object", samrt_pass_update_object(pass, 99, click, &one, 1, NULL), SAMRT_E_INVALID_ARGUMENT, "no object 99");
    expect("remove unknown object", samrt_pass_remove_object(pass, 99), SAMRT_E_INVALID_ARGUMENT, "no object 99");
    int far_id = 0;
    expect("add an object outside the image", samrt_pass_add_object(pass, far_pt, &one, 1, NULL, &far_id), SAMRT_OK, "");

    /* ---- record errors go into the very command buffer the good record uses: a failed call records nothing */
    samrt_image src = { .image = (uint64_t)source.image, .format = VK_FORMAT_R8G8B8A8_UNORM, .width = w, .height = h,
                        .layout = VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, .final_layout = VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL };
    samrt_image dst = { .image = (uint64_t)mask.image, .format = VK_FORMAT_R8_UNORM, .width = w, .height = h,
                        .layout = VK_IMAGE_LAYOUT_UNDEFINED, .final_layout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL };
    samrt_image bad_image;
    VkCommandBuffer cmd = begin(&hs);
    char needle[64];
    snprintf(needle, sizeof needle, "Object %d", far_id);
    expect("record an object outside the image", samrt_pass_record(pass, cmd, &src, &dst, 0), SAMRT_E_INVALID_ARGUMENT, needle);
    expect("remove it", samrt_pass_remove_object(pass, far_id), SAMRT_OK, "");
    expect("add_object", samrt_pass_add_object(pass, click, &one, 1, NULL, &id), SAMRT_OK, "");
    expect("record NULL command buffer", samrt_pass_record(pass, NULL, &src, &dst, 0), SAMRT_E_INVALID_ARGUMENT, "vk_command_buffer is NULL");
    expect("record NULL source", samrt_pass_record(pass, cmd, NULL, &dst, 0), SAMRT_E_INVALID_ARGUMENT, "source is NULL");
    bad_image = src;
    bad_image.format = VK_FORMAT_R16G16B16A16_SFLOAT;
    expect("record RGBA16F source", samrt_pass_record(pass, cmd, &bad_image, &dst, 0), SAMRT_E_INVALID_ARGUMENT, "source->format is VkFormat 97");
    bad_image = dst;
    bad_image.format = VK_FORMAT_R8G8B8A8_UNORM;
    expect("record RGBA8 mask", samrt_pass_record(pass, cmd, &src, &bad_image, 0), SAMRT_E_INVALID_ARGUMENT, "mask->format is VkFormat 37");
    bad_image = dst;
    bad_image.width = 10;
    expect("record mask of another size", samrt_pass_record(pass, cmd, &src, &bad_image, 0), SAMRT_E_INVALID_ARGUMENT, "must match");
    bad_image = dst;
    bad_image.final_layout = VK_IMAGE_LAYOUT_UNDEFINED;
    expect("record mask left UNDEFINED", samrt_pass_record(pass, cmd, &src, &bad_image, 0), SAMRT_E_INVALID_ARGUMENT, "final_layout is VK_IMAGE_LAYOUT_UNDEFINED");
    bad_image = src;
    bad_image.layout = 12345;
    expect("record garbage layout", samrt_pass_record(pass, cmd, &bad_image, &dst, 0), SAMRT_E_INVALID_ARGUMENT, "layout 12345");
    expect("record slot 2 of 2", samrt_pass_record(pass, cmd, &src, &dst, 2), SAMRT_E_INVALID_ARGUMENT, "frame_slot 2 is outside 0..1");
    expect("record slot -1", samrt_pass_record(pass, cmd, &src, &dst, -1), SAMRT_E_INVALID_ARGUMENT, "frame_slot -1");
    expect("submit without a timeline", samrt_pass_submit(pass, &src, &dst, 0, 0, 0, 0, 1), SAMRT_E_INVALID_ARGUMENT, "signal_timeline is 0");

    /* ---- frame 0: recorded into the host's command buffer; the mask is read back by the host's next command */
    t0 = now_ms();
    expect("record", samrt_pass_record(pass, cmd, &src, &dst, 0), SAMRT_OK, "");
    double recorded = now_ms() - t0;
    record_readback(cmd, mask.image, w, h, &readback);
    t0 = now_ms();
    submit_and_wait(&hs, cmd);
    printf("recorded pass: record %.1f ms, submit + fence wait %.1f ms\n", recorded, now_ms() - t0);
    uint8_t* recorded_mask = malloc(n);
    memcpy(recorded_mask, readback.mapped, n);
    expect("objects count", samrt_pass_objects(pass, NULL, 0, &count), 0, "");
    expect_true("one object", count == 1);
    expect("objects", samrt_pass_objects(pass, objs, 4, &count), 1, "");
    expect_true("pending until its slot comes round again", objs[0].id == id && objs[0].state == SAMRT_PENDING && objs[0].box[0] == -1);

    /* ---- the reference: the same pixels through the plain API of the same context */
    float score = 0;
    t0 = now_ms();
    expect("set_image", samrt_set_image_rgba8(ctx, pixels, w, h, w * 4), SAMRT_OK, "");
    expect("predict", samrt_predict(ctx, click, &one, 1, NULL, expected, &score), SAMRT_OK, "");
    printf("set_image + predict: %.1f ms, score %.6f\n", now_ms() - t0, score);
    compare_masks("recorded pass", recorded_mask, expected, n);

    /* ---- frame 1: submitted by the library on slot 0 again, waiting on a timeline the host signals from the CPU
     * after submitting, signalling another the host waits on; the mask is left for sampling this time */
    VkSemaphore ready = timeline_create(&hs), done = timeline_create(&hs);
    dst.final_layout = VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL;
    t0 = now_ms();
    expect("submit", samrt_pass_submit(pass, &src, &dst, 0, (uint64_t)ready, 1, (uint64_t)done, 1), SAMRT_OK, "");
    double submitted = now_ms() - t0;
    VkSemaphoreSignalInfo signal = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_SIGNAL_INFO, .semaphore = ready, .value = 1 };
    VK_CHECK(vkSignalSemaphore(hs.device, &signal));
    uint64_t value = 1;
    VkSemaphoreWaitInfo wi = { .sType = VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO, .semaphoreCount = 1, .pSemaphores = &done, .pValues = &value };
    VK_CHECK(vkWaitSemaphores(hs.device, &wi, UINT64_MAX));
    printf("submitted pass: submit call %.1f ms, until the timeline reached 1 %.1f ms\n", submitted, now_ms() - t0);
    read_image(&hs, mask.image, w, h, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, &readback);
    compare_masks("submitted pass", readback.mapped, expected, n);

    /* Reusing slot 0 brought frame 0's results into the objects. */
    expect("objects too small", samrt_pass_objects(pass, objs, 0, &count), SAMRT_E_BUFFER_TOO_SMALL, "capacity 0");
    expect("objects", samrt_pass_objects(pass, objs, 4, &count), 1, "");
    {
        int x0 = w, y0 = h, x1 = -1, y1 = -1;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                if (expected[(size_t)y * w + x]) {
                    if (x < x0) x0 = x;
                    if (x > x1) x1 = x;
                    if (y < y0) y0 = y;
                    if (y > y1) y1 = y;
                }
        printf("object %d: state %d, score %.6f (predict %.6f), box %d %d %d %d (mask's %d %d %d %d)\n", objs[0].id, objs[0].state,
               objs[0].score, score, objs[0].box[0], objs[0].box[1], objs[0].box[2], objs[0].box[3], x0, y0, x1, y1);
        /* The box comes from the 256x256 logits, whose cells are ~7 pixels of this image: within a cell and a half. */
        expect_true("frame 0 reported: tracked, predict's score, the mask's box",
                    objs[0].state == SAMRT_TRACKED && objs[0].score - score <= 0.01f && score - objs[0].score <= 0.01f && abs(objs[0].box[0] - x0) <= 11 &&
                        abs(objs[0].box[1] - y0) <= 11 && abs(objs[0].box[2] - x1) <= 11 && abs(objs[0].box[3] - y1) <= 11);
    }
    expect("update_object", samrt_pass_update_object(pass, id, click, &one, 1, NULL), SAMRT_OK, "");
    expect("objects after update", samrt_pass_objects(pass, objs, 4, &count), 1, "");
    expect_true("pending after update", objs[0].state == SAMRT_PENDING);
    expect("clear_objects", samrt_pass_clear_objects(pass), SAMRT_OK, "");
    expect("objects after clear", samrt_pass_objects(pass, objs, 4, &count), 0, "");

    char messages[4096];
    int nmsg = samrt_take_validation_messages(ctx, messages, (int)sizeof messages);
    expect_true("no validation messages collected by the library", nmsg == 0);
    if (nmsg > 0) printf("%s", messages);

    /* ---- destruction: a pass destroyed, one left to its context's destruction, never the host's objects */
    samrt_pass* orphan = samrt_pass_create(ctx, NULL);
    expect_true("second pass", orphan != NULL);
    samrt_pass_destroy(pass);
    expect("record on a destroyed pass", samrt_pass_record(pass, NULL, &src, &dst, 0), SAMRT_E_INVALID_HANDLE, "destroyed");
    samrt_destroy(ctx);
    expect("pass after its ctx was destroyed", samrt_pass_objects(orphan, objs, 4, &count), SAMRT_E_INVALID_HANDLE,
           "samrt_ctx of this samrt_pass was destroyed");
    samrt_pass_destroy(orphan);
    expect_true("pass_destroy after its ctx", strcmp(samrt_last_error(), "") == 0);

    /* The host's device still works: it reads its source image back, untouched by the pass. */
    expect_true("vkDeviceWaitIdle", vkDeviceWaitIdle(hs.device) == VK_SUCCESS);
    read_image(&hs, source.image, w, h, VK_IMAGE_LAYOUT_SHADER_READ_ONLY_OPTIMAL, &staging);
    expect_true("host reads its source image back unchanged", memcmp(staging.mapped, pixels, n * 4) == 0);

    vkDestroySemaphore(hs.device, ready, NULL);
    vkDestroySemaphore(hs.device, done, NULL);
    buffer_destroy(&hs, &staging);
    buffer_destroy(&hs, &readback);
    image_destroy(&hs, &source);
    image_destroy(&hs, &mask);
    vkDestroyCommandPool(hs.device, hs.pool, NULL);
    vkDestroyDevice(hs.device, NULL);
    if (hs.validation) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(hs.instance, "vkDestroyDebugUtilsMessengerEXT");
        destroy(hs.instance, hs.messenger, NULL);
    }
    vkDestroyInstance(hs.instance, NULL);

    free(pixels);
    free(expected);
    free(recorded_mask);
    printf("%d failure(s), %d validation message(s) from the host's messenger\n", failures, vk_messages);
    return failures + vk_messages;
}
