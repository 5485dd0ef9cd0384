"""PyTorch timings on the CUDA bench's shapes (bench/Reference.Cuda.Bench), float32 with TF32 off.

Each op runs on random inputs (never zeros), warms up, then is timed with CUDA events around each
call; the median of the repeats is printed as `TORCH <name> <ms>`. Also the device-to-device copy
rate (bytes read + written), the memory ceiling the selective scan is measured against.
Usage (on the GPU machine): python3 bench/cuda/torch_bench.py
"""
import statistics

import torch
import torch.nn.functional as F

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.set_float32_matmul_precision("highest")
dev = torch.device("cuda")


def median_ms(fn, reps=20, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def report(name, ms, rate):
    print(f"TORCH {name:<40} {ms:10.3f} ms  {rate}", flush=True)


def main():
    print("torch", torch.__version__, torch.cuda.get_device_name(0), flush=True)
    g = torch.Generator(device=dev).manual_seed(2026)

    n = 1 << 28
    a = torch.randn(n, device=dev, generator=g)
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a))
    report("copy 1 GiB device-to-device", ms, f"{2 * n * 4 / ms / 1e9:.2f} TB/s (read+write)")
    del a, b

    m = 4096
    x = torch.randn(m, m, device=dev, generator=g)
    y = torch.randn(m, m, device=dev, generator=g)
    ms = median_ms(lambda: torch.mm(x, y))
    report(f"gemm f32 {m}^3", ms, f"{2 * m ** 3 / ms / 1e9:.2f} TFLOP/s")
    xd, yd = x.double(), y.double()
    ms = median_ms(lambda: torch.mm(xd, yd), reps=5)
    report(f"gemm f64 {m}^3", ms, f"{2 * m ** 3 / ms / 1e9:.2f} TFLOP/s")
    del x, y, xd, yd

    bs, h, l, d = 4, 16, 4096, 64
    q, k, v = (torch.randn(bs, h, l, d, device=dev, generator=g) for _ in range(3))
    ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    flops = 4 * bs * h * l * l / 2 * d
    report(f"attention f32 B{bs} H{h} L{l} D{d} causal", ms, f"{flops / ms / 1e9:.2f} TFLOP/s (causal half)")
    del q, k, v

    c, l = 1024, 16384
    u = torch.randn(c, l, device=dev, generator=g)
    kern = torch.randn(c, l, device=dev, generator=g) / l ** 0.5

    def fft_conv():
        return torch.fft.irfft(torch.fft.rfft(u, n=2 * l) * torch.fft.rfft(kern, n=2 * l), n=2 * l)[:, :l]

    ms = median_ms(fft_conv)
    report(f"causal conv f32 C{c} L{l} Lk{l} (FFT)", ms, "")
    del u, kern


if __name__ == "__main__":
    main()
