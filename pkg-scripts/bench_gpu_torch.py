"""PyTorch ceilings for pkg-scripts/bench-gpu, on the same GPU in the same run.

Ceilings on this GPU for the same shapes, measured in the same run as tandem:
device-to-device copy bandwidth, and a bf16 GEMV chain over every matrix of a
Qwen2.5-Coder-1.5B-shaped model (what a decode step's products cost in PyTorch,
with no attention or norms), for k = 1, 2, 4, 8, 16 input rows.
"""
import torch, time
d = torch.device("cuda")
x = torch.empty(2 * 1024**3, dtype=torch.uint8, device=d)
y = torch.empty_like(x)
for _ in range(3): y.copy_(x)
torch.cuda.synchronize(); t = time.perf_counter()
for _ in range(10): y.copy_(x)
torch.cuda.synchronize(); dt = (time.perf_counter() - t) / 10
print(f"copy bandwidth {2 * x.numel() / dt / 1e9:.0f} GB/s (read + write)")
del x, y
h, inter, layers, vocab, q, kv = 1536, 8960, 28, 151936, 1536, 256
shapes = []
for _ in range(layers):
    shapes += [(q + 2 * kv, h), (h, q), (2 * inter, h), (h, inter)]
shapes.append((vocab, h))
ws = [torch.randn(s, dtype=torch.bfloat16, device=d) * 0.02 for s in shapes]
nbytes = sum(w.numel() * 2 for w in ws)
print(f"bf16 matrices: {nbytes / 1e6:.1f} MB")
base = None
for k in [1, 2, 4, 8, 16]:
    xs = {s[1]: torch.randn(k, s[1], dtype=torch.bfloat16, device=d) for s in shapes}
    def step():
        for w in ws:
            torch.nn.functional.linear(xs[w.shape[1]], w)
    for _ in range(3): step()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g): step()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(20): g.replay()
    torch.cuda.synchronize(); ms = (time.perf_counter() - t) / 20 * 1e3
    base = base or ms
    print(f"k={k:2d} bf16 GEMV chain (CUDA graph) {ms:.3f} ms, {nbytes / ms / 1e6:.0f} GB/s, ÷k=1 {ms / base:.2f}")
