#version 450
// The tracking decision on a frame's candidates, on the GPU, so that a front end that cannot wait for the CPU (the
// engine pass renders into the host's image in the same recording) shows exactly what the tracker accepts. The host
// sets each candidate row's criteria from its object's state (ObjectTrack.Criteria); here each object keeps the
// passing candidate its appearance memory likes best, and the chosen row's gate becomes 1 if the object accepts it.
// The host reads the verdicts back to update its state: this shader is the one place the criteria are applied.
// One invocation per object; objects have a handful of candidate rows.
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(std430, binding = 0) readonly buffer Stats { float stats[]; };      // [rows, 8]: box cells (x0,y0,x1,y1; -1 empty), area
layout(std430, binding = 1) readonly buffer Scores { float scores[]; };    // [rows] predicted IoU
layout(std430, binding = 2) readonly buffer Memory { float memory[]; };    // [rows, 5]: cells, foreground cells, readout sum, edge cells, likeness sum
layout(std430, binding = 3) readonly buffer Criteria { float crit[]; };    // [rows, 13], see CandidateSelect.Criteria
layout(std430, binding = 4) writeonly buffer Gate { float gate[]; };       // [rows] 1: render this row
layout(std430, binding = 5) writeonly buffer Verdict { float verdict[]; }; // [objects, 4]: chosen row, best passing row, accepted, best is near

layout(push_constant) uniform P {
    int rows, objects;
    int loX, loY, hiX, hiY;   // a box of cells is clipped by the frame when x0 <= loX, y0 <= loY, x1 >= hiX or y1 >= hiY
} p;

const uint USER = 1u, MEMORY = 2u, REF_CLIPPED = 4u, ACCEPT = 8u;
const float HUGE = 3.0e38;
const int C = 13, M = 5;   // CandidateSelect.CriteriaStride, AppearanceMemory.ScoreStride

bool passes(int r, out float rank)
{
    rank = -HUGE;
    float area = stats[r * 8 + 4];
    if (area <= 0.0 || stats[r * 8 + 2] < 0.0) return false;
    uint flags = uint(crit[r * C + 1]);
    if ((flags & USER) != 0u) { rank = HUGE; return true; }
    if (scores[r] < crit[r * C + 2]) return false;
    float cells = memory[r * M];
    if (cells > 0.0) rank = memory[r * M + 2] / cells;
    // A clipped mask may be smaller than the object, one after a clipped mask larger than it was.
    bool clipped = stats[r * 8] <= float(p.loX) || stats[r * 8 + 1] <= float(p.loY)
                || stats[r * 8 + 2] >= float(p.hiX) || stats[r * 8 + 3] >= float(p.hiY);
    float reference = crit[r * C + 3], change = crit[r * C + 4];
    bool areaOk = reference == 0.0 || ((clipped || area * change >= reference)
                                       && ((flags & REF_CLIPPED) != 0u || area <= reference * change));
    // The fraction says the mask looks more like the object than like the background the memory has seen; the
    // likeness, that it looks like the object at all (something new in the scene is neither). The embedding's cells on
    // the image border look like nothing else, so a mask the frame clips is held to the fraction alone.
    bool memoryOk = (flags & MEMORY) == 0u || (cells > 0.0 && memory[r * M + 1] >= crit[r * C + 5] * cells
                                              && (clipped || memory[r * M + 4] >= crit[r * C + 12] * cells));
    return areaOk && memoryOk;
}

// Inside the lost object's motion gate (MotionGate): its box centre is where the object's motion says it should be.
bool near(int r)
{
    if ((uint(crit[r * C + 1]) & USER) != 0u) return true;   // a user's prompt stands first wherever it is
    float t = crit[r * C + 11];
    if (t <= 0.0) return false;
    float dx = 0.5 * (stats[r * 8] + stats[r * 8 + 2] + 1.0) - crit[r * C + 6];
    float dy = 0.5 * (stats[r * 8 + 1] + stats[r * 8 + 3] + 1.0) - crit[r * C + 7];
    return crit[r * C + 8] * dx * dx + 2.0 * crit[r * C + 9] * dx * dy + crit[r * C + 10] * dy * dy <= t;
}

void main()
{
    int o = int(gl_GlobalInvocationID.x);
    if (o >= p.objects) return;
    int first = -1, best = -1;
    float bestRank = 0.0;
    bool bestNear = false;
    for (int r = 0; r < p.rows; r++)
    {
        if (int(crit[r * C]) != o) continue;
        if (first < 0) first = r;
        float rank;
        if (!passes(r, rank)) continue;
        // A candidate where the motion predicts the object beats one the memory likes better elsewhere (SAMURAI
        // weighs motion in for the same reason: look-alikes).
        bool n = near(r);
        if (best < 0 || (n && !bestNear) || (n == bestNear && rank > bestRank)) { best = r; bestRank = rank; bestNear = n; }
    }
    int chosen = best >= 0 ? best : first;
    bool accepted = best >= 0 && ((uint(crit[best * C + 1]) & ACCEPT) != 0u || bestNear);
    for (int r = 0; r < p.rows; r++)
        if (int(crit[r * C]) == o) gate[r] = r == chosen && accepted ? 1.0 : 0.0;
    verdict[o * 4] = float(chosen);
    verdict[o * 4 + 1] = float(best);
    verdict[o * 4 + 2] = accepted ? 1.0 : 0.0;
    verdict[o * 4 + 3] = best >= 0 && bestNear ? 1.0 : 0.0;
}
