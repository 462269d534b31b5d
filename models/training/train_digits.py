"""Trains Inkwell's digit classifier on MNIST and exports models/digits.onnx with its model card.

Usage (from the project root):
    /usr/bin/python3 models/training/train_digits.py --data ../shared/datasets --epochs 16 --threads 1

The best checkpoint (by validation accuracy) is kept in models/training/.cache/digits/ while training runs,
so an interrupted run can still be exported with --export-only.

The defaults give 2.0.0 (flagged 1s, label smoothing 0.1 with temperature-scaled confidences; 16 epochs, ~23 min
on one thread of the 2-core dev box). 1.0.0 was:
    --epochs 16 --flag-ones 0 --label-smoothing 0 --version 1.0.0
Every lever measured for 2.0.0, alone and combined, is in models/README.md ("Digits 2.0.0: what was measured"), and
those measured after it (ensembles, flag angle, elastic strength, width, --deskew) next to it. An ensemble: --members N trains N
networks (seeds seed, seed+1, ...; --width scales their channels), --member i trains only one of them so members can
run in parallel processes, and --export-only --members N then writes one graph that averages their logits.
"""

import argparse
import datetime
import gzip
import hashlib
import json
import math
import os
import platform
import random
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PROJECT_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODELS_DIR = os.path.join(PROJECT_ROOT, "models")
CACHE_DIR = os.path.join(MODELS_DIR, "training", ".cache", "digits")

# The usual MNIST statistics (mean and std of the training pixels scaled to [0, 1]).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
VALIDATION_SIZE = 5000
BATCH_SIZE = 128
OPSET = 13
# GridSample, which the in-graph deskew needs, came with opset 16.
DESKEW_OPSET = 16


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(PROJECT_ROOT, "..", "shared", "datasets"),
                        help="dataset folder holding mnist/*.gz (default: ../shared/datasets)")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; keep 1 when another training job shares the machine")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--max-lr", type=float, default=3e-3)
    parser.add_argument("--limit-train", type=int, default=0,
                        help="use only this many training images (smoke runs); 0 = all")
    parser.add_argument("--export-only", action="store_true",
                        help="skip training; export the saved best checkpoint and write the card")
    parser.add_argument("--version", default="2.0.0")
    # Used by Inkwell's training jobs (src/features/models/training.*); the defaults keep the behaviour above.
    parser.add_argument("--extra-data", default=None,
                        help="extra training digits: records of 785 bytes (label 0-9, then 28x28 ink 0-255 row-major, "
                             "ink bright), as the app's prepareDigit gives them")
    parser.add_argument("--production-copies", default=None,
                        help="the 60,000 MNIST training images rendered as users send digits and prepared by prepareDigit "
                             "(prepare-mnist-train.ts writes them, in MNIST order): the copies of the training split's images "
                             "are added to the training set, those of the validation images left out")
    parser.add_argument("--out", default=None,
                        help="write digits.onnx, digits.json and the checkpoint in this folder instead of models/")
    parser.add_argument("--progress", action="store_true",
                        help="after each epoch, print one JSON line (epoch, epochs, loss, val_accuracy) on stdout")
    parser.add_argument("--no-augment", dest="augment", action="store_false",
                        help="train on the images as they are, without augmentation")
    # Added for 2.0.0 (issue 13); each lever can be switched off to measure it alone.
    parser.add_argument("--flag-ones", type=float, default=0.5,
                        help="share of the 1s in each batch given a drawn flag at the top (and, for a quarter of "
                             "those, a foot), as many people write a 1; 0 = off (as 1.0.0)")
    parser.add_argument("--elastic-sd", type=float, default=1.2,
                        help="the elastic field's displacement (standard deviation, pixels), on half of each batch")
    parser.add_argument("--flag-angle", default="25,60",
                        help="the flags' angle below the horizontal, in degrees: lowest,highest")
    parser.add_argument("--flag-length", default="0.3,0.7",
                        help="shortest,longest flag as a share of the 1's height (real flags are long; 0.18,0.42 and "
                             "0.3,0.6 were measured first)")
    parser.add_argument("--reprepare", action="store_true",
                        help="re-prepare each augmented digit as prepareDigit does (crop, longer side 20 px, centre of "
                             "mass at (14, 14), strongest pixel 1); measured worse on the validation set, so off")
    parser.add_argument("--label-smoothing", type=float, default=0.1,
                        help="0 = off (as 1.0.0); with it on, the exported confidences are temperature-scaled")
    parser.add_argument("--thin-strokes", type=float, default=0.0,
                        help="share of each batch thinned to pen-like 1 px strokes before the other augmentation; 0 = off "
                             "(the default: 0.3 was measured worse on pendigits-canvas, see models/README.md)")
    parser.add_argument("--deskew", action="store_true",
                        help="shear each digit upright (second moments) inside the network, so the exported graph does it too (ONNX opset 16)")
    parser.add_argument("--width", type=float, default=1.0,
                        help="scales every conv stage's channels (1 = 32, 64, 128)")
    parser.add_argument("--members", type=int, default=1,
                        help="train this many networks (seeds seed, seed+1, ...) and export the average of their logits")
    parser.add_argument("--member", type=int, default=None,
                        help="train only this member of --members (0-based) and stop: members can train in parallel "
                             "processes, then --export-only combines them")
    parser.add_argument("--cache-dir", default=CACHE_DIR,
                        help="where the best checkpoint and run log go (separate folders let probes run side by side)")
    parser.add_argument("--no-export", action="store_true",
                        help="probe runs: train and measure MNIST test, but leave models/digits.onnx and the card alone")
    return parser.parse_args()


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, count = struct.unpack(">II", raw[:8])
    if magic == 2051:
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    if magic == 2049:
        return np.frombuffer(raw, dtype=np.uint8, offset=8)
    raise ValueError(f"{path}: not an IDX image or label file (magic {magic})")


def load_mnist(data_dir):
    folder = os.path.join(data_dir, "mnist")

    def images(name):
        return torch.from_numpy(read_idx(os.path.join(folder, name)).copy()).float().div_(255).unsqueeze(1)

    def labels(name):
        return torch.from_numpy(read_idx(os.path.join(folder, name)).astype(np.int64))

    return (images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz"),
            images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz"))


def conv_bn_relu(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def stage_widths(width):
    return [round(32 * width), round(64 * width), round(128 * width)]


class Deskew(nn.Module):
    """Shears each digit so that its principal axis is vertical, about its centre of mass (the classic deskew by
    second moments: x_in = x + (mu11 / mu02) (y - cy)), as the first layer, so every runtime of the exported graph
    does the same. People slant their writing in their own ways; upright, their digits vary less. No parameters."""

    LIMIT = 1.0  # at most 45 degrees of shear

    def forward(self, x):
        n, _, h, w = x.shape
        ink = (x * MNIST_STD + MNIST_MEAN).clamp_min(0)
        ys = torch.arange(h, dtype=x.dtype).view(1, 1, h, 1)
        xs = torch.arange(w, dtype=x.dtype).view(1, 1, 1, w)
        mass = ink.sum((2, 3), keepdim=True).clamp_min(1e-6)
        dy = ys - (ink * ys).sum((2, 3), keepdim=True) / mass
        dx = xs - (ink * xs).sum((2, 3), keepdim=True) / mass
        mu11 = (ink * dx * dy).sum((2, 3), keepdim=True) / mass
        mu02 = (ink * dy * dy).sum((2, 3), keepdim=True) / mass
        slant = (mu11 / mu02.clamp_min(1e-3)).clamp(-self.LIMIT, self.LIMIT)
        # grid_sample's coordinates: index i of n pixels is at (2i + 1) / n - 1 (align_corners=False).
        u = (2 * (xs + slant * dy) + 1) / w - 1
        v = ((2 * ys + 1) / h - 1).expand_as(u)
        upright = F.grid_sample(ink, torch.stack([u[:, 0], v[:, 0]], dim=-1), mode="bilinear", padding_mode="zeros", align_corners=False)
        return (upright - MNIST_MEAN) / MNIST_STD


class DigitNet(nn.Module):
    """Three conv stages (28 -> 14 -> 7 -> 4 px); a single conv at full resolution keeps it fast on a CPU.
    `width` scales every stage's channels (1 = 32, 64, 128); `deskew` puts Deskew in front."""

    def __init__(self, width=1.0, deskew=False):
        super().__init__()
        self.deskew = Deskew() if deskew else nn.Identity()
        c1, c2, c3 = stage_widths(width)
        self.features = nn.Sequential(
            *conv_bn_relu(1, c1), nn.MaxPool2d(2),
            *conv_bn_relu(c1, c2), *conv_bn_relu(c2, c2), nn.MaxPool2d(2),
            *conv_bn_relu(c2, c3), *conv_bn_relu(c3, c3), nn.MaxPool2d(2, ceil_mode=True),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(c3 * 4 * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(self.deskew(x)))


class Ensemble(nn.Module):
    """Members trained alone with different seeds; their logits are averaged (a geometric mean of their
    probabilities), so one graph answers for all of them."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        return torch.stack([member(x) for member in self.members]).mean(0)


class WithSoftmax(nn.Module):
    """The exported graph answers probabilities, so the runtime never re-implements softmax. The logits are first
    divided by `temperature` (1 = not at all; see fit_temperature)."""

    def __init__(self, net, temperature=1.0):
        super().__init__()
        self.net = net
        self.temperature = temperature

    def forward(self, image):
        logits = self.net(image)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return F.softmax(logits, dim=1)


def fit_temperature(model, val_x, val_y):
    """Label smoothing trains the network to answer about 0.91 for a digit it is sure of, and the app queues
    predictions under 0.9 for review. Temperature scaling (Guo et al., 2017) restores confidences that mean what
    they say without changing any answer: the one divisor of the logits with the lowest cross-entropy on the
    validation split, searched on a grid of 0.01 steps."""
    logits = predict(model, val_x)
    candidates = torch.arange(0.05, 2.0001, 0.01)
    losses = torch.stack([F.cross_entropy(logits / t, val_y) for t in candidates])
    return round(candidates[losses.argmin()].item(), 2)


def uniform(n, low, high):
    return torch.empty(n).uniform_(low, high)


def vary_stroke_thickness(x):
    """Users draw with thick canvas brushes and thin pens: blend each digit towards its 3x3 dilation or erosion."""
    n = x.shape[0]
    amount = uniform(n, -0.6, 1.0).view(n, 1, 1, 1)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    return torch.where(amount > 0, x + amount * (dilated - x), x - amount * (eroded - x))


def warp(x, elastic_sd):
    """Random rotation (+-15 deg), scale (0.8-1.2), shear, shift (+-2.5 px) and, for half the batch, a smooth elastic
    field whose coarse displacements have a standard deviation of `elastic_sd` pixels."""
    n, _, h, w = x.shape
    angle = uniform(n, -15, 15) * math.pi / 180
    scale = uniform(n, 0.8, 1.2)
    shear = uniform(n, -0.3, 0.3)
    pixel = 2.0 / w  # affine_grid works in [-1, 1] coordinates
    shift_x = uniform(n, -2.5, 2.5) * pixel
    shift_y = uniform(n, -2.5, 2.5) * pixel
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output to input coordinates, so dividing by scale enlarges the digit for scale > 1.
    theta = torch.stack([
        torch.stack([cos / scale, (-sin + shear * cos) / scale, shift_x], dim=1),
        torch.stack([sin / scale, (cos + shear * sin) / scale, shift_y], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    elastic = torch.rand(n) < 0.5
    coarse_field = torch.randn(n, 2, 4, 4) * (elastic_sd * pixel) * elastic.view(n, 1, 1, 1)
    field = F.interpolate(coarse_field, size=(h, w), mode="bicubic", align_corners=False)
    grid = grid + field.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def thin_strokes(x, share):
    """A pen on paper or a thin brush leaves strokes 3-5% of the digit's height wide, which prepareDigit shrinks to
    faint lines about 1 px wide; MNIST's are 2-3 px. On `share` of the batch: enlarge 2x, erode once or twice with
    a 3x3 minimum (0.5 px off each side per erosion at 28 px), shrink back by averaging, strongest pixel to 1 again,
    as prepareDigit does. Digits whose strokes would vanish are left as they were."""
    chosen = (torch.rand(len(x)) < share).nonzero().flatten()
    if len(chosen) == 0:
        return x
    large = F.interpolate(x[chosen], scale_factor=2, mode="bilinear", align_corners=False)
    once = -F.max_pool2d(-large, 3, stride=1, padding=1)
    twice = -F.max_pool2d(-once, 3, stride=1, padding=1)
    eroded = torch.where((torch.rand(len(chosen)) < 0.5).view(-1, 1, 1, 1), once, twice)
    thin = F.avg_pool2d(eroded, 2)
    peak = thin.amax((1, 2, 3), keepdim=True)
    kept = peak > 0.2
    thin = torch.where(kept, thin / peak.clamp_min(1e-6), x[chosen])
    x = x.clone()
    x[chosen] = thin
    return x


def vary_contrast(x):
    """Thresholded photos and hard canvas strokes arrive with saturated ink: boost and clip a third of the batch."""
    n = x.shape[0]
    gain = torch.where(torch.rand(n) < 0.33, uniform(n, 1.0, 2.5), torch.ones(n)).view(n, 1, 1, 1)
    return (x * gain).clamp_(0, 1)


def draw_segments(x, x0, y0, x1, y1, width):
    """Draws one anti-aliased straight stroke per image (pixel-index coordinates), keeping the brighter of old and new ink."""
    n, _, h, w = x.shape
    rows = torch.arange(h, dtype=x.dtype).view(1, h, 1)
    cols = torch.arange(w, dtype=x.dtype).view(1, 1, w)
    x0, y0, x1, y1, width = (t.view(n, 1, 1) for t in (x0, y0, x1, y1, width))
    dx, dy = x1 - x0, y1 - y0
    along = (((cols - x0) * dx + (rows - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1)
    distance = torch.sqrt((cols - x0 - along * dx) ** 2 + (rows - y0 - along * dy) ** 2)
    stroke = (width / 2 + 0.5 - distance).clamp(0, 1)
    return torch.maximum(x, stroke.unsqueeze(1))


def add_flags_to_ones(x, y, share, lengths, angles):
    """Many people write a 1 with a flag at its top (and some with a foot); MNIST's 1s are mostly bare bars, so
    1.0.0 read such 1s as 7s. Draws a stroke from the top of the bar down to the left, `angles` (--flag-angle, 25-60 by
    default) deg below the horizontal and `lengths` (shortest, longest; --flag-length) of the digit's height long (a 7's bar is flatter
    and goes right), on `share` of the 1s; a quarter of those also get a horizontal foot under the bar."""
    chosen = ((y == 1) & (torch.rand(len(y)) < share)).nonzero().flatten()
    if len(chosen) == 0:
        return x
    ones = x[chosen]
    n, _, h, w = ones.shape
    ink = ones[:, 0] > 0.3
    rows_with_ink = ink.any(2)
    index = torch.arange(h).expand(n, h)
    top = torch.where(rows_with_ink, index, h).min(1).values.clamp(max=h - 1)
    bottom = torch.where(rows_with_ink, index, -1).max(1).values.clamp(min=0)
    height = (bottom - top + 1).float()
    col_index = torch.arange(w, dtype=torch.float32)

    def mean_column(row):
        line = ink[torch.arange(n), row].float()
        return (line * col_index).sum(1) / line.sum(1).clamp_min(1)

    top_x, bottom_x = mean_column(top), mean_column(bottom)
    shortest, longest = lengths
    length = uniform(n, shortest, longest) * height
    angle = uniform(n, *angles) * math.pi / 180
    width = uniform(n, 1.5, 3.0)
    flagged = draw_segments(ones, top_x, top.float(), top_x - length * torch.cos(angle),
                            top.float() + length * torch.sin(angle), width)
    footed = torch.rand(n) < 0.25
    if footed.any():
        half = uniform(n, 0.15, 0.3) * height
        with_foot = draw_segments(flagged, bottom_x - half, bottom.float(), bottom_x + half, bottom.float(), width)
        flagged = torch.where(footed.view(n, 1, 1, 1), with_foot, flagged)
    x = x.clone()
    x[chosen] = flagged
    return x


def reprepare(x):
    """Brings each augmented digit back to what prepareDigit outputs: crop to the ink, longer side 20 px (keeping
    the aspect ratio), centre of mass at index (14, 14), strongest pixel 1. A bilinear resample of the whole
    field does it in one step, so the network trains on digits framed as the app frames them."""
    n, _, h, w = x.shape
    mass = x[:, 0]
    present = mass > 0.05
    index_y = torch.arange(h, dtype=x.dtype).view(1, h)
    index_x = torch.arange(w, dtype=x.dtype).view(1, w)
    rows, cols = present.any(2), present.any(1)
    extent_y = (torch.where(rows, index_y, -1.0).max(1).values - torch.where(rows, index_y, float(h)).min(1).values + 1)
    extent_x = (torch.where(cols, index_x, -1.0).max(1).values - torch.where(cols, index_x, float(w)).min(1).values + 1)
    extent = torch.maximum(extent_y, extent_x).clamp_min(1)
    total = mass.sum((1, 2)).clamp_min(1e-6)
    com_y = (mass.sum(2) * index_y).sum(1) / total
    com_x = (mass.sum(1) * index_x).sum(1) / total
    zoom = 20.0 / extent  # output pixels per input pixel
    # affine_grid maps output to input in [-1, 1] coordinates (align_corners=False: index i is at (2i + 1) / w - 1).
    to_norm = lambda index, size: (2 * index + 1) / size - 1
    scale = 1.0 / zoom
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = scale
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = to_norm(com_x, w) - scale * to_norm(torch.full_like(com_x, 14.0), w)
    theta[:, 1, 2] = to_norm(com_y, h) - scale * to_norm(torch.full_like(com_y, 14.0), h)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    peak = out.amax((1, 2, 3), keepdim=True).clamp_min(1e-6)
    return out / peak


def augment(x, y, args):
    """The levers off by default draw no random numbers, so turning one off reproduces the runs without it."""
    if args.flag_ones > 0:
        x = add_flags_to_ones(x, y, args.flag_ones, tuple(float(v) for v in args.flag_length.split(",")),
                              tuple(float(v) for v in args.flag_angle.split(",")))
    if args.thin_strokes > 0:
        x = thin_strokes(x, args.thin_strokes)
    x = vary_contrast(warp(vary_stroke_thickness(x), args.elastic_sd))
    if args.reprepare:
        x = reprepare(x)
    return x


def normalise(x):
    return (x - MNIST_MEAN) / MNIST_STD


@torch.no_grad()
def predict(model, images, batch=1000):
    model.eval()
    outputs = [model(normalise(images[i:i + batch]).contiguous(memory_format=torch.channels_last))
               for i in range(0, len(images), batch)]
    return torch.cat(outputs)


def accuracy_report(model, images, labels):
    predicted = predict(model, images).argmax(1)
    correct = predicted == labels
    per_digit = {str(d): round(correct[labels == d].float().mean().item() * 100, 2) for d in range(10)}
    confusions = {}
    for truth, guess in zip(labels[~correct].tolist(), predicted[~correct].tolist()):
        key = f"{truth}->{guess}"
        confusions[key] = confusions.get(key, 0) + 1
    top_confusions = dict(sorted(confusions.items(), key=lambda kv: -kv[1])[:8])
    return {
        "accuracy": round(correct.float().mean().item() * 100, 2),
        "errors": int((~correct).sum().item()),
        "n": len(labels),
        "per_digit_accuracy": per_digit,
        "most_frequent_confusions": top_confusions,
    }


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(args, member, train_x, train_y, val_x, val_y):
    cache_dir = member_cache_dir(args, member)
    model = DigitNet(args.width, args.deskew).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.max_lr, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(train_x) / BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.max_lr, epochs=args.epochs,
                                                   steps_per_epoch=steps_per_epoch, pct_start=0.2)
    os.makedirs(cache_dir, exist_ok=True)
    best = {"val_accuracy": -1.0}
    history = []
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_x))
        epoch_started = time.time()
        running_loss, seen = 0.0, 0
        for step in range(steps_per_epoch):
            index = order[step * BATCH_SIZE:(step + 1) * BATCH_SIZE]
            with torch.no_grad():
                batch = augment(train_x[index], train_y[index], args) if args.augment else train_x[index]
                batch = normalise(batch).contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(batch), train_y[index], label_smoothing=args.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running_loss += loss.item() * len(index)
            seen += len(index)
            if (step + 1) % 100 == 0:
                rate = seen / (time.time() - epoch_started)
                print(f"  epoch {epoch} step {step + 1}/{steps_per_epoch} loss {running_loss / seen:.4f} "
                      f"{rate:.0f} img/s", flush=True)
        val_accuracy = (predict(model, val_x).argmax(1) == val_y).float().mean().item() * 100
        elapsed = time.time() - started
        history.append({"epoch": epoch, "train_loss": round(running_loss / seen, 4),
                        "val_accuracy": round(val_accuracy, 2), "elapsed_s": round(elapsed)})
        improved = val_accuracy >= best["val_accuracy"]  # ties go to the later, lower-learning-rate epoch
        if improved:
            best = {"val_accuracy": round(val_accuracy, 2), "epoch": epoch}
            torch.save({"state_dict": model.state_dict(), "epoch": epoch}, os.path.join(cache_dir, "best.pt"))
        print(f"epoch {epoch}/{args.epochs}: train loss {running_loss / seen:.4f}, val accuracy {val_accuracy:.2f}%"
              f"{' (best, saved)' if improved else ''}, {time.time() - epoch_started:.0f} s, total {elapsed / 60:.1f} min",
              flush=True)
        if args.progress:
            # One progress bar over every member's epochs.
            print(json.dumps({"epoch": member * args.epochs + epoch, "epochs": args.members * args.epochs, "loss": round(running_loss / seen, 4),
                              "val_accuracy": round(val_accuracy, 2), "elapsed_s": round(elapsed)}), flush=True)
        write_run_log(args, member, {"history": history, "best": best, "train_seconds": round(elapsed),
                             "train_images": len(train_x), "validation_images": len(val_x)})
    return best


def write_run_log(args, member, run):
    run.update({"epochs": args.epochs, "threads": args.threads, "seed": member_seed(args, member), "max_lr": args.max_lr,
                "flag_ones": args.flag_ones, "flag_length": args.flag_length, "flag_angle": args.flag_angle, "elastic_sd": args.elastic_sd, "reprepare": args.reprepare, "label_smoothing": args.label_smoothing,
                "production_copies": bool(args.production_copies),
                "thin_strokes": args.thin_strokes, "width": args.width, "deskew": args.deskew,
                "batch_size": BATCH_SIZE, "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
    with open(os.path.join(member_cache_dir(args, member), "run.json"), "w") as f:
        json.dump(run, f, indent=2)


def opset_of(run):
    return DESKEW_OPSET if run.get("deskew") else OPSET


def export_onnx(model, path, temperature, opset):
    wrapped = WithSoftmax(model, temperature).eval()
    torch.onnx.export(wrapped, torch.zeros(1, 1, 28, 28), path, opset_version=opset,
                      input_names=["image"], output_names=["probabilities"],
                      dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}},
                      do_constant_folding=True)
    import onnx  # imported late: only the export needs it
    onnx.checker.check_model(onnx.load(path))


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def augmentation_text(run):
    steps = []
    if run.get("flag_ones"):
        steps.append(f"on {run['flag_ones']:.0%} of the 1s a drawn flag at the top (down-left, {run.get('flag_angle', '25,60').replace(',', '-')} deg below the horizontal, "
                     f"{run['flag_length'].replace(',', '-')} of the height long, 1.5-3 px wide), a quarter of those also a foot under the bar")
    if run.get("thin_strokes"):
        steps.append(f"on {run['thin_strokes']:.0%} of the batch pen-thin strokes (enlarged 2x, eroded once or twice with a 3x3 minimum, "
                     "averaged back to 28x28, strongest pixel 1)")
    steps.append("stroke thickness (blend towards 3x3 dilation up to 100% or erosion up to 60%), rotation +-15 deg, scale 0.8-1.2, "
                 f"shear +-0.3, shift +-2.5 px, smooth elastic field (4x4 bicubic-upsampled noise, sd {run.get('elastic_sd', 1.2)} px) on half the batch, "
                 "contrast boost x1-2.5 with clipping on a third of the batch")
    if run.get("reprepare"):
        steps.append("then each digit re-prepared as prepareDigit frames it (crop to the ink, longer side 20 px, centre of mass "
                     "at (14, 14), strongest pixel 1; one bilinear resample)")
    return "per batch on the tensor: " + "; ".join(steps)


def architecture_text(run, members):
    c1, c2, c3 = stage_widths(run.get("width", 1.0))
    deskew = "deskew by second moments (shear about the centre of mass, inside the graph); " if run.get("deskew") else ""
    network = (f"{deskew}conv3x3({c1})-BN-ReLU, maxpool; conv3x3({c2})-BN-ReLU x2, maxpool; conv3x3({c3})-BN-ReLU x2, maxpool(ceil); "
               f"dropout 0.3; linear {c3 * 16}->10")
    if members == 1:
        return network + "; softmax"
    return (f"an ensemble of {members} networks trained alone (seeds seed, seed+1, ...), their logits averaged, then softmax; "
            f"each: {network}")


def write_card(args, run, test_report, parameters, onnx_path, temperature):
    card_path = os.path.join(args.out or MODELS_DIR, "digits.json")
    card = {
        "name": "digits",
        "version": args.version,
        "created": datetime.date.today().isoformat(),
        "task": "Classify one handwritten digit (0-9) per image.",
        "framework": f"PyTorch {torch.__version__} -> ONNX opset {opset_of(run)}",
        "input": {"name": "image", "shape": ["N", 1, 28, 28], "dtype": "float32",
                  "meaning": "MNIST-normalised ink intensity: (ink in [0,1] - 0.1307) / 0.3081, ink bright, background 0 before normalising"},
        "output": {"name": "probabilities", "shape": ["N", 10], "dtype": "float32",
                   "meaning": "softmax over the digits 0-9 (index = digit); computed inside the graph"
                              + (f", of the logits divided by the temperature {temperature} (fitted on the validation split)" if temperature != 1.0 else "")},
        "preprocessing": {
            "implemented_by": "prepareDigit / prepareDigitFromGray in src/ml/digit-image.ts",
            "mean": MNIST_MEAN,
            "std": MNIST_STD,
            "steps": [
                "Decode with decodeToGray (src/ml/image-input.ts): type sniffed from magic bytes, EXIF orientation applied, transparency flattened on white, converted to 8-bit grayscale.",
                "Images larger than 512 px on the longer side are first reduced to 512 px by area averaging.",
                "Polarity: the paper level is the median of the border pixels (a ring 2% of the shorter side thick); ink is on the side whose extreme (the level of the darkest or brightest 0.05% of pixels, at least 4) lies further from it, so dark ink is inverted. Result: ink bright.",
                "No ink: if the strongest ink (the level reached by the brightest 0.05% of pixels, at least 4) is less than 40 grey levels above the paper -> ImageInputError('no_ink').",
                "Local paper level for uneven lighting: 25th percentile of each block of a 4x4 grid, interpolated bilinearly, kept between the border paper level and 35% of the way to the strongest ink; subtracted, negatives to 0.",
                "Ink threshold T: Otsu on the ink levels, clamped to 25%-60% of the strongest ink. Hysteresis: 8-connected regions of pixels >= T/4 that reach T somewhere are ink; regions whose part >= T is under 5% of the largest region's are dropped as specks.",
                "Ink pixels are scaled (v - T/4) / (p90 - T/4) clipped to [0, 1], p90 being the 90th percentile of ink pixels; everything else is 0.",
                "Crop to the bounding box of the non-zero pixels.",
                "Thin strokes widened (src/ml/stroke-width.ts): stroke width w = 2A / (A - E), A the pixels >= 0.5 and E those of them whose four neighbours are too. If w is under 0.11 of the crop's longer side (about MNIST's 10th percentile; its median is 0.143), the crop is first shrunk to at most 80 px (as below), then every pixel within r = (0.11 L - w) / (2 (1 - 0.11)) of a pixel >= 0.5 (L and w at that size; chamfer distance, steps 1 and sqrt 2) gets ink max(v, clamp(r + 0.5 - d, 0, 1)), and the crop is cut to its ink again.",
                "Resize the crop so its longer side is 20 px, keeping the aspect ratio (separable area averaging when shrinking, linear when enlarging), then divide by the maximum so the strongest pixel is 1 (as in MNIST).",
                "Paste into a 28x28 black field shifted by whole pixels so the intensity centre of mass lands within half a pixel of (14, 14) (index coordinates; clamped so the box stays inside), as MNIST did.",
                "Normalise with (x - 0.1307) / 0.3081; layout 1x28x28 row-major.",
            ],
        },
        "training_data": {
            "dataset": "MNIST (train-images-idx3-ubyte, 60,000 images) from ../shared/datasets/mnist",
            "split": f"{run['train_images']} images for training, the last {run['validation_images']} of a seeded permutation of the 60,000 held out for validation / checkpoint choice; the 10,000 MNIST test images only for the final figures",
            "licence": "MNIST is made available by Yann LeCun and Corinna Cortes under CC BY-SA 3.0.",
        },
        "training": {
            "script": "models/training/train_digits.py (npm run train:digits -- --data <folder>)",
            "architecture": architecture_text(run, len(run.get("members", [])) or 1),
            **({"members": run["members"]} if "members" in run else {}),
            "augmentation": augmentation_text(run),
            "optimizer": f"AdamW (weight decay 5e-4), one-cycle learning rate up to {run['max_lr']}, batch {run['batch_size']}, cross-entropy"
                         + (f" with label smoothing {run['label_smoothing']}" if run.get("label_smoothing") else ""),
            **({"temperature": temperature} if temperature != 1.0 else {}),
            "seed": run["seed"],
            "epochs": run["epochs"],
            "best_epoch": run["best"]["epoch"],
            "validation_accuracy": run["best"]["val_accuracy"],
            "train_seconds": run["train_seconds"],
            "threads": run["threads"],
            "machine": f"2-core CPU, no GPU ({platform.processor() or platform.machine()}, torch threads {run['threads']})",
            "history": run["history"],
        },
        "evaluation": {
            "mnist_test": dict(test_report, method="train_digits.py: the exported network (PyTorch, before ONNX) on the 10,000 MNIST test images, pixels /255 and normalised, no other preprocessing"),
        },
        "parameters": parameters,
        "file": {"path": "models/digits.onnx", "bytes": os.path.getsize(onnx_path), "sha256": sha256_of(onnx_path)},
    }
    previous = {}
    if os.path.exists(card_path):
        with open(card_path) as f:
            previous = json.load(f)
    for section in ("production_path", "validation", "targets"):
        measured = previous.get("evaluation", {}).get(section)
        if measured and measured.get("model_sha256") == card["file"]["sha256"]:
            card["evaluation"][section] = measured  # still measured on this very file
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    return card_path


def member_seed(args, member):
    return args.seed + member


def member_cache_dir(args, member):
    return args.cache_dir if args.members == 1 else os.path.join(args.cache_dir, f"member-{member}")


def read_extra_data(path):
    """The --extra-data file: N records of 785 bytes (label, then 784 pixels)."""
    with open(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    if raw.size % 785:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of 785-byte records")
    records = raw.reshape(-1, 785)
    images = torch.from_numpy(records[:, 1:].copy()).float().div_(255).view(-1, 1, 28, 28)
    return images, torch.from_numpy(records[:, 0].astype(np.int64))


def main():
    args = parse_args()
    if args.member is not None and not 0 <= args.member < args.members:
        raise SystemExit(f"--member must be between 0 and {args.members - 1}, one less than --members ({args.members})")
    if args.out:
        os.makedirs(args.out, exist_ok=True)  # made now, not found missing at export after a long run
        if args.cache_dir == CACHE_DIR:
            # A run for the app keeps its checkpoint beside its output, never in the project's cache.
            args.cache_dir = os.path.join(args.out, ".cache")
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    images, labels, test_x, test_y = load_mnist(args.data)
    order = torch.randperm(len(images))
    train_index, val_index = order[:-VALIDATION_SIZE], order[-VALIDATION_SIZE:]
    if args.limit_train:
        train_index = train_index[:args.limit_train]
    train_x, train_y = images[train_index], labels[train_index]
    if args.production_copies:
        copies_x, copies_y = read_extra_data(args.production_copies)
        if len(copies_x) != len(images) or not torch.equal(copies_y, labels):
            raise SystemExit(f"{args.production_copies} is not the {len(images)} MNIST training images in order (prepare-mnist-train.ts)")
        train_x, train_y = torch.cat([train_x, copies_x[train_index]]), torch.cat([train_y, copies_y[train_index]])
        print(f"production copies: {len(train_index)} images from {args.production_copies}", flush=True)
    if args.extra_data:
        extra_x, extra_y = read_extra_data(args.extra_data)
        train_x, train_y = torch.cat([train_x, extra_x]), torch.cat([train_y, extra_y])
        print(f"extra data: {len(extra_x)} images from {args.extra_data}", flush=True)
    val_x, val_y = images[val_index], labels[val_index]
    print(f"MNIST: {len(train_x)} train, {len(val_x)} validation, {len(test_x)} test; {args.threads} thread(s)", flush=True)

    if not args.export_only:
        for member in ([args.member] if args.member is not None else range(args.members)):
            if member > 0:
                seed_everything(member_seed(args, member))  # member 0 keeps the single network's random sequence
            print(f"member {member + 1} of {args.members}" if args.members > 1 else "training", flush=True)
            train(args, member, train_x, train_y, val_x, val_y)
        if args.member is not None:
            return
    runs, networks = [], []
    for member in range(args.members):
        with open(os.path.join(member_cache_dir(args, member), "run.json")) as f:
            runs.append(json.load(f))
        network = DigitNet(runs[-1].get("width", 1.0), runs[-1].get("deskew", False))
        network.load_state_dict(torch.load(os.path.join(member_cache_dir(args, member), "best.pt"))["state_dict"])
        networks.append(network)
    run = runs[0]
    if len(runs) > 1:
        run["members"] = [{"seed": r["seed"], "best_epoch": r["best"]["epoch"], "validation_accuracy": r["best"]["val_accuracy"],
                           "train_seconds": r["train_seconds"]} for r in runs]
    model = networks[0] if len(networks) == 1 else Ensemble(networks)
    model = model.to(memory_format=torch.channels_last).eval()
    test_report = accuracy_report(model, test_x, test_y)
    print(f"MNIST test accuracy ({len(networks)} network(s), best checkpoints): {test_report['accuracy']:.2f}% "
          f"({test_report['errors']} errors); per digit {test_report['per_digit_accuracy']}", flush=True)

    if args.no_export:
        return
    onnx_path = os.path.join(args.out or MODELS_DIR, "digits.onnx")
    temperature = fit_temperature(model, val_x, val_y) if run.get("label_smoothing") else 1.0
    export_onnx(model.to(memory_format=torch.contiguous_format), onnx_path, temperature, opset_of(run))
    parameters = sum(p.numel() for p in model.parameters())
    card_path = write_card(args, run, test_report, parameters, onnx_path, temperature)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path)} bytes, {parameters} parameters) and {card_path}", flush=True)


if __name__ == "__main__":
    main()
