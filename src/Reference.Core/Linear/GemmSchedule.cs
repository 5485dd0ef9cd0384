using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Reference.Core.Linear;

/// <summary>
/// Multi-threaded schedule of one product (the loops of <see cref="FastGemm"/> shared by several
/// threads, as in BLIS's parallel ic / jr loops, Smith et al., IPDPS 2014, Sec. IV):
///   steps s = (jc, pc, ia) in the sequential order of the blocked loops; a step packs op(B)[pc, jc]
///   (only when ia is its first row super-block) and op(A)[ia, pc] ONCE into panels shared by all
///   threads, then computes its C tiles (one MC block of rows x one run of NR-wide column panels).
/// Every pack and every tile is a task with a global index; a thread takes the next index from one
/// atomic counter (dynamic assignment, so a thread that starts late or is descheduled on a shared
/// machine simply takes fewer tiles). Ordering: a tile of step s waits until the panels it reads
/// are packed; a pack of step s waits until every tile of step s - 1 is done (the panels are rewritten in
/// place, and step s accumulates onto the C written by earlier steps). A thread only ever waits for
/// tasks with smaller indices, which were taken by threads that are running them, so the schedule
/// cannot deadlock whether or not the helper threads ever start (the calling thread can run every
/// task by itself). Each C element is computed by the same micro-kernel on the same packed panels
/// with the same beta, in the same step order, as on one thread: results are bitwise identical for
/// any thread count and any assignment of tiles to threads.
/// </summary>
internal sealed unsafe class GemmSchedule<T> : IThreadPoolWorkItem where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Rows of op(A) packed per step: bounds the shared A panel (MC x KC x 16 = 2.3 MB float32).</summary>
    private const int SuperBlocks = 16;

    private readonly GemmProblem<T> p;
    private readonly GemmKernel kernel;
    private readonly int mcMax, kcMax, ncMax, maMax, mr, nr;
    private readonly bool aRowMajor;
    private readonly int stepsJ, stepsP, stepsI, colChunk, packChunkB;
    private readonly int[] taskStart;   // global index of each step's first task; [steps] = total
    private readonly int[] packed;      // per global task index: 1 once that pack task has finished
    private readonly int[] tilesDone;
    private readonly SharedPanels<T> panels;
    private int next, completed;

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
        packChunkB = RoundUp((ncFirst + 2 * workers - 1) / (2 * workers), nr);
        int steps = stepsJ * stepsP * stepsI;
        taskStart = new int[steps + 1];
        tilesDone = new int[steps];
        for (int s = 0; s < steps; s++)
        {
            var (_, nc, _, _, _, ma, packB) = Step(s);
            taskStart[s + 1] = taskStart[s] + PackTasks(nc, ma, packB) + Tiles(nc, ma);
        }
        packed = new int[taskStart[steps]];
        panels = SharedPanels<T>.Rent(RoundUp(maFirst, mr) * blocking.ARowLength(Math.Min(kcMax, p.K)), RoundUp(ncFirst, nr) * Math.Min(kcMax, p.K));
    }

    /// <summary>Runs the product on the calling thread plus up to workers - 1 thread-pool threads.</summary>
    public static void Run(in GemmProblem<T> problem, int workers, GemmKernel kernel)
    {
        var schedule = new GemmSchedule<T>(problem, workers, kernel);
        for (int w = 1; w < workers; w++) ThreadPool.UnsafeQueueUserWorkItem(schedule, preferLocal: false);
        schedule.Work();
        int total = schedule.taskStart[^1];
        var spin = new SpinWait();
        while (Volatile.Read(ref schedule.completed) < total) spin.SpinOnce();
        SharedPanels<T>.Return(schedule.panels);
    }

    void IThreadPoolWorkItem.Execute() => Work();

    private void Work()
    {
        int total = taskStart[^1];
        int step = 0;
        while (true)
        {
            int task = Interlocked.Increment(ref next) - 1;
            if (task >= total) return;
            while (taskStart[step + 1] <= task) step++;
            var (jc, nc, pc, kc, ia, ma, packB) = Step(step);
            int local = task - taskStart[step];
            int packs = PackTasks(nc, ma, packB);
            if (local < packs)
            {
                if (step > 0) WaitFor(ref tilesDone[step - 1], Tiles(StepNc(step - 1), StepMa(step - 1)));
                int packsA = (ma + mcMax - 1) / mcMax;
                if (local < packsA)
                {
                    int i0 = local * mcMax;
                    GemmPacking.PackA(p.TransA, p.A, p.Lda, ia + i0, pc, Math.Min(mcMax, ma - i0), kc, mr,
                        aRowMajor ? kcMax : 0, panels.A + (nint)i0 * ARowLength(kc));
                }
                else
                {
                    int j0 = (local - packsA) * packChunkB;
                    GemmPacking.PackB(p.TransB, p.B, p.Ldb, pc, jc + j0, kc, Math.Min(packChunkB, nc - j0), nr, panels.B + (nint)j0 * kc);
                }
                Volatile.Write(ref packed[task], 1);
            }
            else
            {
                int tile = local - packs;
                int colTiles = (nc + colChunk - 1) / colChunk;
                int i0 = tile / colTiles * mcMax, j0 = tile % colTiles * colChunk;
                // Only the panels this tile reads: its A block and, when this step packs B, the B
                // chunks under its columns (otherwise B was packed by an earlier step, finished
                // before this step's A packs started).
                int first = taskStart[step];
                WaitFor(ref packed[first + i0 / mcMax], 1);
                if (packB)
                {
                    int packsA = (ma + mcMax - 1) / mcMax, jEnd = Math.Min(nc, j0 + colChunk);
                    for (int q = j0 / packChunkB; q * packChunkB < jEnd; q++) WaitFor(ref packed[first + packsA + q], 1);
                }
                T beta = pc == 0 ? p.Beta : T.One;
                FastGemm.MacroKernel(kernel, Math.Min(mcMax, ma - i0), Math.Min(colChunk, nc - j0), kc, p.Alpha, beta,
                    panels.A + (nint)i0 * ARowLength(kc), panels.B + (nint)j0 * kc, p.C + (nint)(ia + i0) * p.Ldc + jc + j0, p.Ldc);
                Interlocked.Increment(ref tilesDone[step]);
            }
            Interlocked.Increment(ref completed);
        }
    }

    private int ARowLength(int kc) => aRowMajor ? kcMax : kc;

    private static void WaitFor(ref int counter, int target)
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref counter) < target) spin.SpinOnce();
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
        (ma + mcMax - 1) / mcMax + (packB ? (nc + packChunkB - 1) / packChunkB : 0);

    private int Tiles(int nc, int ma) => (ma + mcMax - 1) / mcMax * ((nc + colChunk - 1) / colChunk);

    private static int RoundUp(int x, int multiple) => (x + multiple - 1) / multiple * multiple;
}

/// <summary>
/// Packed A and B panels shared by the threads of one product, kept across calls (one cached set
/// per element type; a concurrent second product rents a fresh set). Pinned and 64-byte aligned.
/// </summary>
internal sealed unsafe class SharedPanels<T> where T : unmanaged
{
    private static SharedPanels<T>? cached;
    private T[] a = [], b = [];

    public T* A { get; private set; }

    public T* B { get; private set; }

    public static SharedPanels<T> Rent(int lengthA, int lengthB)
    {
        var set = Interlocked.Exchange(ref cached, null) ?? new SharedPanels<T>();
        set.A = Ensure(ref set.a, lengthA);
        set.B = Ensure(ref set.b, lengthB);
        return set;
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
