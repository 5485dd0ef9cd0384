using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Reference.Core.Kernels;

namespace Reference.Core.Linear;

/// <summary>
/// Multi-threaded schedule of one product (the loops of <see cref="FastGemm"/> shared by several
/// threads, as in BLIS's parallel ic / jr loops, Smith et al., IPDPS 2014, Sec. IV):
///   steps s = (jc, pc, ia) in the sequential order of the blocked loops; a step packs op(B)[pc, jc]
///   (only when ia is its first row super-block) and op(A)[ia, pc] ONCE into panels shared by all
///   threads, then computes its C tiles (one MC block of rows x one run of NR-wide column panels).
/// Every pack and every tile is a task with a global index; a thread takes the next index from one
/// atomic counter (dynamic assignment, so a thread that starts late or is descheduled on a shared
/// machine simply takes fewer tiles). The panels are double-buffered (two sets used alternately,
/// so packing overlaps computation): step s packs A into set s mod 2 and the B panel of
/// its (jc, pc) group g into set g mod 2, so the packs of step s + 1 run while the last tiles of
/// step s are still being computed, instead of every thread meeting at a barrier per step.
/// When every MC block of rows is one tile (enough row blocks to give each thread ~4 tiles, e.g.
/// m = 1024), a tile packs its own A block into its thread's buffer just before computing, as the
/// one-thread loop does, and only B is shared (BLIS's ic-loop parallelization).
/// Ordering: a tile waits until the panels it reads are packed, and, when it accumulates onto an
/// earlier rank-KC update (pc > 0), until the tile of the same C block and position in that earlier
/// step is done; a pack waits until every tile that read the set it overwrites (two steps, or two
/// (jc, pc) groups, back) is done. Each task only waits for tasks with smaller indices, which were
/// taken by threads that are running them, so the schedule cannot deadlock whether or not the
/// helper threads ever start (the calling thread can run every task by itself). Each C element is
/// computed by the same micro-kernel on the same packed panels with the same beta, in the same step
/// order, as on one thread: results are bitwise identical for any thread count and any assignment
/// of tiles to threads.
/// </summary>
internal sealed unsafe class GemmSchedule<T> : IParallelBody where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Rows of op(A) packed per step: bounds the shared A panel (MC x KC x 16 = 2.3 MB float32).</summary>
    internal const int SuperBlocks = 16;

    private readonly GemmProblem<T> p;
    private readonly GemmKernel kernel;
    private readonly int mcMax, kcMax, ncMax, maMax, mr, nr;
    private readonly bool aRowMajor;
    private readonly bool privateA;    // each A block is read by one tile only: that tile packs it itself
    private readonly int stepsJ, stepsP, stepsI, colChunk, packChunkB;
    private readonly int[] taskStart;   // global index of each step's first task; [steps] = total
    private readonly int[] done;        // per global task index: 1 once that pack or tile has finished
    private readonly int[] tilesDone;
    private readonly SharedPanels<T> panels;
    private int next;

    private GemmSchedule(in GemmProblem<T> problem, int workers, GemmKernel kernel)
    {
        p = problem;
        this.kernel = kernel;
        var blocking = GemmMicroKernel.Blocking<T>(kernel);
        (mr, nr, mcMax, kcMax, ncMax, aRowMajor) = blocking;
        maMax = mcMax * SuperBlocks;
        stepsJ = (p.N + ncMax - 1) / ncMax;
        stepsP = (p.K + kcMax - 1) / kcMax;
        stepsI = (p.M + maMax - 1) / maMax;
        int ncFirst = Math.Min(ncMax, p.N), maFirst = Math.Min(maMax, p.M);
        // Enough tiles per step that dynamic assignment balances the threads (~4 per thread), in
        // whole NR panels so that the tile edges do not depend on the thread count.
        int rowBlocks = (maFirst + mcMax - 1) / mcMax;
        int colChunks = Math.Max(1, (4 * workers + rowBlocks - 1) / rowBlocks);
        colChunk = RoundUp((ncFirst + colChunks - 1) / colChunks, nr);
        // One tile per MC block (enough row blocks for every thread, e.g. 13 at m = 1024, MC = 84): the
        // tile packs its A block into its thread's own buffer right before its macro-kernel, as on one
        // thread, so the block is in that core's L2 when read (a shared A pack task may run on the
        // other core, or long before its tile, after the whole step's A and B have passed).
        privateA = colChunk >= ncFirst;
        packChunkB = RoundUp((ncFirst + 2 * workers - 1) / (2 * workers), nr);
        int steps = stepsJ * stepsP * stepsI;
        taskStart = new int[steps + 1];
        tilesDone = new int[steps];
        for (int s = 0; s < steps; s++)
        {
            var (_, nc, _, _, _, ma, packB) = Step(s);
            taskStart[s + 1] = taskStart[s] + PackTasks(nc, ma, packB) + Tiles(nc, ma);
        }
        done = new int[taskStart[steps]];
        panels = SharedPanels<T>.Rent(privateA ? 0 : RoundUp(maFirst, mr) * blocking.ARowLength(Math.Min(kcMax, p.K)), RoundUp(ncFirst, nr) * Math.Min(kcMax, p.K));
    }

    /// <summary>
    /// Runs the product on the calling thread plus up to workers - 1 helpers of <see cref="ParallelItems"/> (dedicated
    /// threads that stay warm between calls and keep off the caller's core; each claims one share, i.e. runs
    /// <see cref="Work"/> once).
    /// </summary>
    public static void Run(in GemmProblem<T> problem, int workers, GemmKernel kernel)
    {
        var trace = GemmTrace.Active;
        long w0 = trace is null ? 0 : Stopwatch.GetTimestamp(), c0 = trace is null ? 0 : GemmTrace.ThreadCpuNs();
        var schedule = new GemmSchedule<T>(problem, workers, kernel);
        ParallelItems.ForWorkers(workers, schedule);   // returns once every worker that claimed a share has left Work: every task is done
        SharedPanels<T>.Return(schedule.panels);
        trace?.Add(GemmTrace.Call, schedule.taskStart[^1], w0, c0);
    }

    void IParallelBody.Run(int worker) => Work();

    private void Work()
    {
        int total = taskStart[^1];
        int step = 0;
        var trace = GemmTrace.Active;
        while (true)
        {
            int task = Interlocked.Increment(ref next) - 1;
            if (task >= total) return;
            long w0 = trace is null ? 0 : Stopwatch.GetTimestamp(), c0 = trace is null ? 0 : GemmTrace.ThreadCpuNs();
            while (taskStart[step + 1] <= task) step++;
            var (jc, nc, pc, kc, ia, ma, packB) = Step(step);
            int local = task - taskStart[step];
            int packs = PackTasks(nc, ma, packB);
            if (local < packs)
            {
                int packsA = PackTasksA(ma);
                if (local < packsA)
                {
                    // Set step mod 2 was last read by the tiles of step - 2.
                    if (step >= 2) WaitFor(ref tilesDone[step - 2], Tiles(StepNc(step - 2), StepMa(step - 2)), task);
                    int i0 = local * mcMax;
                    GemmPacking.PackA(p.TransA, p.A, p.Lda, ia + i0, pc, Math.Min(mcMax, ma - i0), kc, mr,
                        aRowMajor ? kcMax : 0, panels.A(step & 1) + (nint)i0 * ARowLength(kc));
                }
                else
                {
                    // B set (group mod 2) was last read by every step of group - 2.
                    int group = step / stepsI;
                    for (int s = (group - 2) * stepsI; s >= 0 && s < (group - 1) * stepsI; s++)
                        WaitFor(ref tilesDone[s], Tiles(StepNc(s), StepMa(s)), task);
                    int j0 = (local - packsA) * packChunkB;
                    GemmPacking.PackB(p.TransB, p.B, p.Ldb, pc, jc + j0, kc, Math.Min(packChunkB, nc - j0), nr,
                        panels.B(group & 1) + (nint)j0 * kc);
                }
            }
            else
            {
                int tile = local - packs;
                int colTiles = (nc + colChunk - 1) / colChunk;
                int i0 = tile / colTiles * mcMax, j0 = tile % colTiles * colChunk;
                // Only the panels this tile reads: its A block and the B chunks under its columns,
                // packed by this step or (B) by the first step of its (jc, pc) group.
                int first = taskStart[step];
                T* aBlock = null;
                if (!privateA)
                {
                    WaitFor(ref done[first + i0 / mcMax], 1, task);
                    aBlock = panels.A(step & 1) + (nint)i0 * ARowLength(kc);
                }
                int group = step / stepsI, groupFirst = group * stepsI;
                int bFirst = taskStart[groupFirst] + PackTasksA(StepMa(groupFirst)), jEnd = Math.Min(nc, j0 + colChunk);
                for (int q = j0 / packChunkB; q * packChunkB < jEnd; q++) WaitFor(ref done[bFirst + q], 1, task);
                // The previous rank-KC update of the same C block (same jc and ia, pc - KC) is step
                // - stepsI, with the same tiling: its tile of this index must have stored its C first.
                if (pc > 0)
                {
                    int before = step - stepsI;
                    WaitFor(ref done[taskStart[before] + PackTasks(nc, ma, before % stepsI == 0) + tile], 1, task);
                }
                T beta = pc == 0 ? p.Beta : T.One;
                if (privateA)
                    FastGemm.PackAndMultiply(p, kernel, ia + i0, Math.Min(mcMax, ma - i0), pc, kc, jc, nc, beta,
                        PackingBuffers<T>.A(RoundUp(mcMax, mr) * ARowLength(kcMax)), panels.B(group & 1));
                else
                    FastGemm.MacroKernel(kernel, Math.Min(mcMax, ma - i0), Math.Min(colChunk, nc - j0), kc, p.Alpha, beta,
                        aBlock, panels.B(group & 1) + (nint)j0 * kc, p.C + (nint)(ia + i0) * p.Ldc + jc + j0, p.Ldc,
                        pc == 0 ? p.Bias.At(ia + i0, jc + j0) : default);
                Interlocked.Increment(ref tilesDone[step]);
            }
            trace?.Add(GemmTrace.Task, task, w0, c0);
            Volatile.Write(ref done[task], 1);
        }
    }

    private int ARowLength(int kc) => aRowMajor ? kcMax : kc;

    /// <summary>
    /// Spins (and yields) until <paramref name="counter"/> reaches <paramref name="target"/>, never with Thread.Sleep(1), which
    /// SpinWait's default reaches after ~20 spins: on these VMs it returned after 1.1 ms, where a tile's dependency (the last
    /// B pack of a step) was met ~20 us after the wait began; traced two-thread 1024^3 calls spent a median 1.1 ms of a
    /// 8.4 ms call in such sleeps, and the threads were busy 1.71 of 2 (1.96 without the sleep; bench/NOTES.md, gemm2t).
    /// A wait that spins is recorded in an active <see cref="GemmTrace"/> (bench only).
    /// </summary>
    private static void WaitFor(ref int counter, int target, int task)
    {
        if (Volatile.Read(ref counter) >= target) return;
        var trace = GemmTrace.Active;
        long w0 = trace is null ? 0 : Stopwatch.GetTimestamp(), c0 = trace is null ? 0 : GemmTrace.ThreadCpuNs();
        var spin = new SpinWait();
        while (Volatile.Read(ref counter) < target) spin.SpinOnce(sleep1Threshold: -1);
        trace?.Add(GemmTrace.Wait, task, w0, c0);
    }

    /// <summary>Step s in loop order jc (outer), pc, ia (inner): offsets, extents, and whether it packs B.</summary>
    private (int Jc, int Nc, int Pc, int Kc, int Ia, int Ma, bool PackB) Step(int s)
    {
        int si = s % stepsI, sp = s / stepsI % stepsP, sj = s / (stepsI * stepsP);
        int jc = sj * ncMax, pc = sp * kcMax, ia = si * maMax;
        return (jc, Math.Min(ncMax, p.N - jc), pc, Math.Min(kcMax, p.K - pc), ia, Math.Min(maMax, p.M - ia), si == 0);
    }

    private int StepNc(int s) => Step(s).Nc;

    private int StepMa(int s) => Step(s).Ma;

    private int PackTasks(int nc, int ma, bool packB) =>
        PackTasksA(ma) + (packB ? (nc + packChunkB - 1) / packChunkB : 0);

    /// <summary>Shared A pack tasks of a step (none when each tile packs its own A block).</summary>
    private int PackTasksA(int ma) => privateA ? 0 : (ma + mcMax - 1) / mcMax;

    private int Tiles(int nc, int ma) => (ma + mcMax - 1) / mcMax * ((nc + colChunk - 1) / colChunk);

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}

/// <summary>
/// Packed A and B panels shared by the threads of one product, two sets of each (double buffering),
/// kept across calls (one cached instance per element type; a concurrent second product rents a
/// fresh one). Pinned and 64-byte aligned.
/// </summary>
internal sealed unsafe class SharedPanels<T> where T : unmanaged
{
    private static SharedPanels<T>? cached;
    private readonly T[][] arrays = [[], [], [], []];
    private readonly nint[] pointers = new nint[4];

    /// <summary>A panel of set 0 or 1.</summary>
    public T* A(int set) => (T*)pointers[set];

    /// <summary>B panel of set 0 or 1.</summary>
    public T* B(int set) => (T*)pointers[2 + set];

    public static SharedPanels<T> Rent(int lengthA, int lengthB)
    {
        var panels = Interlocked.Exchange(ref cached, null) ?? new SharedPanels<T>();
        for (int i = 0; i < 4; i++) panels.pointers[i] = (nint)Ensure(ref panels.arrays[i], i < 2 ? lengthA : lengthB);
        return panels;
    }

    public static void Return(SharedPanels<T> set) => Volatile.Write(ref cached, set);

    private static T* Ensure(ref T[] buffer, int length)
    {
        int pad = 64 / sizeof(T);
        if (buffer.Length < length + pad)
            buffer = GC.AllocateUninitializedArray<T>(length + pad, pinned: true);
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
        return (T*)((address + 63) & ~(nint)63);
    }
}

/// <summary>
/// The multi-threaded form of a product that is one step of <see cref="GemmSchedule{T}"/> (k &lt;= KC, n &lt;= NC, m &lt;= MC x
/// <see cref="GemmSchedule{T}.SuperBlocks"/>) and whose A the Vector512 kernel reads in place (<see cref="FastGemm.UnpackedRows"/>:
/// leading dimension 32 to 256, every full micro-panel): the tiles are chunks of whole NR-wide column panels over all rows,
/// two per thread or, where those would be narrower than 4 panels, one, taken from one counter (<see cref="ParallelItems"/>), and each is the one-thread loops
/// (<see cref="FastGemm.Blocked{T}"/>) on its columns: it packs its own B chunk into its thread's buffer and reads A in place,
/// so no packed panel crosses cores and no tile waits for another. In the shared schedule a 256^3 product packed A and B
/// in 8 tasks shared by both threads and its 84 x 128 tiles took 44 us each against 31 us of one-thread work (their panels
/// packed on the other core; bench/NOTES.md, gemm2t). Each column is computed by the same kernels on the same packed
/// values in the same k order as on one thread (chunk edges fall on NR panels, where the one-thread loop's tiles do): the
/// results are bitwise identical for any thread count.
/// </summary>
internal sealed class GemmColumnTiles<T> : IParallelBody where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly GemmProblem<T> p;
    private readonly GemmKernel kernel;
    private readonly int chunk;

    private GemmColumnTiles(in GemmProblem<T> problem, int chunk, GemmKernel kernel) => (p, this.chunk, this.kernel) = (problem, chunk, kernel);

    /// <summary>Whether an m x n x k product with A's leading dimension lda runs as column tiles with this kernel.</summary>
    public static bool Applies(int m, int n, int k, nint lda, GemmKernel kernel)
    {
        var (mr, _, mcMax, kcMax, ncMax, _) = GemmMicroKernel.Blocking<T>(kernel);
        return k <= kcMax && n <= ncMax && m <= mcMax * GemmSchedule<T>.SuperBlocks
            && m >= mr && FastGemm.UnpackedRows(lda, m, kernel) == m - m % mr;
    }

    public static void Run(in GemmProblem<T> problem, int workers, GemmKernel kernel)
    {
        int nr = GemmMicroKernel.Blocking<T>(kernel).NR;
        // Two chunks per thread (so that a late helper costs at most half the product's time) unless a chunk would then be
        // narrower than 4 NR panels: every chunk walks all of A, and an A micro-panel brought into L1 serves one tile per
        // NR panel of the chunk. At 256^3 two chunks of 128 columns read 81-82 % of the FMA peak by CPU time, four of 64
        // 76-77 %, eight of 32 74-75 % (bench/NOTES.md, gemm2t).
        int chunk = RoundUp((problem.N + 2 * workers - 1) / (2 * workers), nr);
        if (chunk < 4 * nr) chunk = RoundUp((problem.N + workers - 1) / workers, nr);
        var tiles = new GemmColumnTiles<T>(problem, chunk, kernel);
        var trace = GemmTrace.Active;
        long w0 = trace is null ? 0 : Stopwatch.GetTimestamp(), c0 = trace is null ? 0 : GemmTrace.ThreadCpuNs();
        int count = (problem.N + chunk - 1) / chunk;
        ParallelItems.ForUncounted(count, workers, tiles);
        trace?.Add(GemmTrace.Call, count, w0, c0);
    }

    void IParallelBody.Run(int tile)
    {
        var trace = GemmTrace.Active;
        long w0 = trace is null ? 0 : Stopwatch.GetTimestamp(), c0 = trace is null ? 0 : GemmTrace.ThreadCpuNs();
        int j0 = tile * chunk;
        FastGemm.Blocked(p.Columns(j0, Math.Min(chunk, p.N - j0)), kernel);
        trace?.Add(GemmTrace.Task, tile, w0, c0);
    }

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}
