"""The same half-width ResNet-18-style grayscale encoder as bench.ts, in PyTorch on CPU.

Benchmark-only (Debian's python3-torch; not a project dependency). Prints one JSON line per size.
  /usr/bin/python3 bench/ml-speed/torch_bench.py --sizes 64,128 --batch 32 --steps 4 --warmup 2
Run it with MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736
MALLOC_TOP_PAD_=1073741824 (run.sh does), or glibc's allocator page-faults on every batch.
"""

import argparse
import json
import os
import statistics
import time

import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.1)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout, eps=1e-3))
            if stride != 1 or cin != cout
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


def build_encoder(widths: list[int]) -> nn.Module:
    layers: list[nn.Module] = [
        nn.Conv2d(1, widths[0], 7, 2, 3, bias=False),
        nn.BatchNorm2d(widths[0], eps=1e-3),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = widths[0]
    for stage, w in enumerate(widths):
        layers += [BasicBlock(cin, w, 1 if stage == 0 else 2), BasicBlock(w, w, 1)]
        cin = w
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 2)]
    return nn.Sequential(*layers)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="64,128")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--widths", default="32,64,128,256")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--mode", default="train,infer")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    widths = [int(w) for w in args.widths.split(",")]
    modes = set(args.mode.split(","))
    for size in [int(s) for s in args.sizes.split(",")]:
        model = build_encoder(widths)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=5e-4)  # as the tfjs side (bench: OPT=adamw)
        x = torch.randn(args.batch, 1, size, size)
        y = torch.arange(args.batch) % 2
        loss_fn = nn.CrossEntropyLoss()
        result = {
            "impl": "pytorch-cpu",
            "variant": f"torch {torch.__version__}",
            "size": size,
            "batch": args.batch,
            "threads": torch.get_num_threads(),
        }
        if "train" in modes:
            model.train()

            def step() -> None:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()

            for _ in range(args.warmup):
                step()
            times = []
            for _ in range(args.steps):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            result["train_img_s"] = args.batch / statistics.median(times)
        if "infer" in modes:
            model.eval()
            with torch.inference_mode():
                for _ in range(args.warmup):
                    model(x)
                times = []
                for _ in range(args.steps):
                    t0 = time.perf_counter()
                    model(x)
                    times.append(time.perf_counter() - t0)
            result["infer_img_s"] = args.batch / statistics.median(times)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
