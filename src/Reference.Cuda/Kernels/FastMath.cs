using System.Reflection;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.PTX;
using ILGPU.IR;
using ILGPU.IR.Intrinsics;

namespace Reference.Cuda.Kernels;

/// <summary>
/// Single PTX instructions for the kernels that ask for them by name, leaving every other kernel of the one
/// context (MathMode.Default: the FFT twiddles, softplus, the float64 kernels) as it is. ILGPU 1.5.3 picks its
/// fast-math forms per context only (PTXCodeGenerator: <c>FastMath = MathMode &gt;= Fast</c>), and its float
/// exp is <c>x log2 e</c> then <c>ex2.approx.f32</c>, which ptxas wraps in a subnormal range fix-up (a compare
/// and two predicated multiplies around MUFU.EX2: bench/NOTES.md "cuda7"). Inline PTX (CudaAsm) returns its
/// result through an <c>out</c> parameter, which ILGPU lowers to a store to the local variable's address
/// (PTXCodeGenerator.GenerateCode(LanguageEmitValue)), so the variable lives in local memory. Here each method
/// is an ILGPU intrinsic instead (<see cref="IntrinsicImplementationAttribute"/>) whose PTX code generator
/// writes one instruction into a fresh register, as ILGPU's own arithmetic does. On ILGPU's CPU accelerator
/// (the IL backend, which has no registration) the C# body runs.
/// </summary>
internal static class FastMath
{
    /// <summary>
    /// 2^x as <c>ex2.approx.ftz.f32</c> (PTX ISA: maximum relative error 2^-22 over the range; subnormal inputs
    /// and results flushed to zero, i.e. an error below 1.2e-38 absolute). The CPU body is the correctly
    /// rounded 2^x.
    /// </summary>
    [IntrinsicImplementation]
    public static float Exp2(float x) => float.Exp2(x);

    /// <summary>The PTX of <see cref="Exp2"/>: one <c>ex2.approx.ftz.f32</c> (MUFU.EX2 alone on sm_90).</summary>
    private static void Exp2Ptx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value) =>
        Unary(codeGenerator, value, "ex2.approx.ftz.f32");

    /// <summary>
    /// log2(x) as <c>lg2.approx.ftz.f32</c> (PTX ISA: maximum absolute error 2^-22 for x in [0.5, 2], relative 2^-22
    /// elsewhere; the same MUFU.LG2 as ILGPU's <c>lg2.approx.f32</c> without the fix-up for subnormal x).
    /// </summary>
    [IntrinsicImplementation]
    public static float Log2(float x) => float.Log2(x);

    private static void Log2Ptx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value) =>
        Unary(codeGenerator, value, "lg2.approx.ftz.f32");

    /// <summary>1 / x as <c>rcp.approx.ftz.f32</c> (PTX ISA: maximum relative error 1 ulp; one MUFU.RCP, where ILGPU's
    /// division is the correctly rounded <c>div.rn.f32</c>: a reciprocal, Newton steps and a slow path).</summary>
    [IntrinsicImplementation]
    public static float Reciprocal(float x) => 1f / x;

    private static void ReciprocalPtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value) =>
        Unary(codeGenerator, value, "rcp.approx.ftz.f32");

    /// <summary>
    /// <paramref name="take"/> ? a b + c : c as a move and a predicated <c>fma.rn.f32</c>, which ptxas makes one
    /// predicated FFMA when c dies there (a lane scan's level, where the lanes below the offset keep their value):
    /// ILGPU's form of the same conditional is a select and then the FFMA.
    /// </summary>
    [IntrinsicImplementation]
    public static float FmaIf(bool take, float a, float b, float c) => take ? MathF.FusedMultiplyAdd(a, b, c) : c;

    private static void FmaIfPtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value) =>
        Predicated(codeGenerator, value, "fma.rn.f32", 3);

    /// <summary><paramref name="take"/> ? a b : a as a move and a predicated <c>mul.rn.f32</c> (see <see cref="FmaIf"/>).</summary>
    [IntrinsicImplementation]
    public static float MulIf(bool take, float a, float b) => take ? a * b : a;

    private static void MulIfPtx(PTXBackend backend, PTXCodeGenerator codeGenerator, Value value) =>
        Predicated(codeGenerator, value, "mul.rn.f32", 1);

    /// <summary>target = the operand <paramref name="kept"/>, then under the predicate (operand 0) the instruction on operands 1.. into target.</summary>
    private static void Predicated(PTXCodeGenerator codeGenerator, Value value, string instruction, int kept)
    {
        var take = codeGenerator.LoadHardware(value[0]);
        var operands = new RegisterAllocator<PTXRegisterKind>.PrimitiveRegister[value.Count - 1];
        for (int i = 1; i < value.Count; i++) operands[i - 1] = codeGenerator.LoadPrimitive(value[i]);
        var target = codeGenerator.AllocateHardware(value);
        using (var move = codeGenerator.BeginCommand("mov.f32"))
        {
            move.AppendArgument(target);
            move.AppendArgument(operands[kept - 1]);
        }
        using var command = codeGenerator.BeginCommand(instruction, new PTXCodeGenerator.PredicateConfiguration(take, true));
        command.AppendArgument(target);
        foreach (var operand in operands) command.AppendArgument(operand);
    }

    private static void Unary(PTXCodeGenerator codeGenerator, Value value, string instruction)
    {
        var x = codeGenerator.LoadPrimitive(value[0]);
        var target = codeGenerator.AllocateHardware(value);
        using var command = codeGenerator.BeginCommand(instruction);
        command.AppendArgument(target);
        command.AppendArgument(x);
    }

    /// <summary>Registers the PTX code generators with a context's intrinsics (before its accelerators compile kernels).</summary>
    public static void Register(IntrinsicImplementationManager manager)
    {
        ArgumentNullException.ThrowIfNull(manager);
        const BindingFlags flags = BindingFlags.Public | BindingFlags.Static;
        manager.RegisterMethod(typeof(FastMath).GetMethod(nameof(Exp2), flags)!,
            new PTXIntrinsic(typeof(FastMath), nameof(Exp2Ptx), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(typeof(FastMath).GetMethod(nameof(Log2), flags)!,
            new PTXIntrinsic(typeof(FastMath), nameof(Log2Ptx), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(typeof(FastMath).GetMethod(nameof(Reciprocal), flags)!,
            new PTXIntrinsic(typeof(FastMath), nameof(ReciprocalPtx), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(typeof(FastMath).GetMethod(nameof(FmaIf), flags)!,
            new PTXIntrinsic(typeof(FastMath), nameof(FmaIfPtx), IntrinsicImplementationMode.GenerateCode));
        manager.RegisterMethod(typeof(FastMath).GetMethod(nameof(MulIf), flags)!,
            new PTXIntrinsic(typeof(FastMath), nameof(MulIfPtx), IntrinsicImplementationMode.GenerateCode));
    }
}
