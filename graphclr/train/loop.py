"""The pretraining loop: :func:`train` (single process or one rank of a ``torchrun`` job).

What one optimiser step does:

1. take ``accum_steps`` micro-batches (:mod:`graphclr.train.data`; with ``batch_groups``
   the items of a group, e.g. a counterfactual pair, share a micro-batch);
2. with ``accum_steps > 1``, first embed every micro-batch without gradients and cache
   the features, then re-embed each micro-batch with gradients and compute the loss
   against the cached features of the others, so the negatives (and the gradient) are
   those of the whole accumulated batch, as in open_clip. The temperature's gradient is
   taken once. (BatchNorm statistics and dropout still see micro-batches.);
3. the loss (:class:`graphclr.loss.ClipLoss`, all-gathered over ranks) is multiplied by
   the world size before ``backward`` because DDP averages gradients over ranks: the
   result equals the single-process gradient of the global batch;
4. during the first ``freeze_image_steps`` steps the image backbone's gradients are
   dropped (LiT-style warm-up: the new report tower learns against fixed image features;
   the image projection trains); ``lock_image`` freezes it for the whole run;
5. AdamW (no weight decay on biases, norms and the temperature), cosine schedule with
   warm-up, optional gradient clipping, AMP on GPUs (bf16, or fp16 with loss scaling);
6. the temperature is clamped to ``[0, log(max_logit_scale)]``.

Every ``log_every`` steps rank 0 appends a record to ``metrics.jsonl``; every
``checkpoint_every`` steps it writes an atomic checkpoint (model, optimiser, scheduler,
scaler, each rank's RNG state and the position in the data). ``resume=True`` continues
from the newest readable checkpoint (a truncated newest one falls back to the previous,
with a warning): on a CPU, with ``num_workers=0`` or deterministic transforms, the
resumed run's weights equal an uninterrupted run's bit for bit.

Images: every dataset with a ``transform`` (the :mod:`graphclr.data` contract) is trained
on a copy carrying the model's train transform (or ``image_transform``), whoever built it,
so images of different sizes are resized and normalised exactly as evaluation expects.

SIGINT / SIGTERM: the step in progress finishes, a checkpoint is written and the summary
says ``interrupted``; progress, TensorBoard and write errors: :mod:`graphclr.train.monitor`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graphclr.device import move_batch
from graphclr.loss import ClipLoss
from graphclr.train.config import TrainConfig
from graphclr.train.data import PairCollator, batch_groups_of, make_loader, report_key_of, with_model_transform
from graphclr.train.distributed import DistInfo, agreed_stop, barrier, cleanup_distributed, init_distributed
from graphclr.train.monitor import MetricsLog, ProgressLine, StopSignals, TensorBoardScalars, write_error
from graphclr.train.schedule import CosineWarmup
from graphclr.train.state import (
    capture_rng,
    checkpoint_candidates,
    checkpoint_dir,
    clean_temp_files,
    prune_checkpoints,
    restore_rng,
    resume_point,
    write_latest,
)
from graphclr.utils import atomic_write, seed_everything

__all__ = ["train"]

log = logging.getLogger(__name__)

#: TrainConfig fields a resumed run must share with the checkpoint (they fix the data order)
_RESUME_KEYS = ("batch_size", "accum_steps", "seed", "drop_last", "batch_groups")


def _amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    if cfg.amp == "none":
        return None
    if device.type != "cuda":
        if cfg.amp != "auto":
            log.warning("amp=%s needs a GPU; training in float32 on %s", cfg.amp, device)
        return None
    if cfg.amp == "fp16":
        return torch.float16
    if cfg.amp == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def _param_groups(model: nn.Module, weight_decay: float, decay_all: bool = False) -> list[dict[str, Any]]:
    """AdamW groups: no decay for biases, norm gains and the temperature (CLIP practice),
    unless ``decay_all`` (the reference's ``AdamW(model.parameters())``)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = (p.ndim < 2 or "logit_scale" in name or ".norm" in name or "bn" in name
                  or name.endswith("bias"))
        if exempt and not decay_all:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _micro_batches_per_epoch(n_items: int, world: int, batch_size: int, drop_last: bool) -> int:
    per_rank = n_items // world if drop_last else math.ceil(n_items / world)
    return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)


def train(model: nn.Module, train_dataset: Any, config: TrainConfig | None = None,
          out_dir: str | Path = "graphclr-run", *, resume: bool = False,
          image_transform: Callable[[Any], torch.Tensor] | None = None,
          loss_fn: nn.Module | None = None) -> dict[str, Any]:
    """Pretrain ``model`` on image-report pairs; returns a summary dict.

    Works for every model with the graphclr contract (``GraphCLIP``, text baselines):
    the batches come from ``model.report_processor`` on each item's ``model.report_key``
    field. Launched by ``torchrun``, each rank runs this function (DDP).

    Args:
        model: the model (on the CPU or any device; it is moved to ``config.device``).
        train_dataset: a map-style dataset of dict items (``image``, ``graph``/``text``).
        config: training settings (default :class:`TrainConfig`).
        out_dir: where ``metrics.jsonl``, ``checkpoints/``, ``model.pt`` and
            ``summary.json`` go.
        resume: continue from the newest checkpoint in ``out_dir`` (a fresh start when
            there is none).
        image_transform: for items whose image is not a tensor yet (default: the model's
            train transform, from its ``preprocess_cfg``).
        loss_fn: default :class:`graphclr.loss.ClipLoss`.

    Returns:
        ``steps``, ``epochs`` (completed, fractional), ``final_loss``, ``pairs_per_s``,
        ``wall_s``, ``checkpoint``, ``model``, ``metrics``, ``world_size``, ``device``,
        ``resumed_from``.
    """
    cfg = config or TrainConfig()
    out = Path(out_dir)
    info = init_distributed(cfg.device)
    try:
        return _train(model, train_dataset, cfg, out, info, resume, image_transform, loss_fn)
    finally:
        cleanup_distributed(info)


def _train(model: nn.Module, dataset: Any, cfg: TrainConfig, out: Path, info: DistInfo, resume: bool,
           image_transform: Callable[[Any], torch.Tensor] | None, loss_fn: nn.Module | None) -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel as DDP

    from graphclr.models.factory import save_checkpoint
    from graphclr.models.image import image_transform as make_transform

    device = info.device
    world = info.world_size
    if resume and info.is_main:
        for tmp in clean_temp_files(out):
            log.warning("removed %s, left by a write that never finished", tmp)
    ckpt_path, ckpt = resume_point(out, info.is_main) if resume else (None, None)
    if resume and ckpt_path is None and info.is_main:
        log.info("no checkpoint in %s: starting from scratch", out)
    if ckpt_path is None:
        seed_everything(cfg.seed + info.rank)

    n_items = len(dataset)
    per_epoch = _micro_batches_per_epoch(n_items, world, cfg.batch_size, cfg.drop_last)
    steps_per_epoch = per_epoch // cfg.accum_steps
    if steps_per_epoch < 1:
        raise ValueError(f"the dataset ({n_items} items over {world} rank(s)) is smaller than one "
                         f"step ({cfg.batch_size} x {cfg.accum_steps} accumulation per rank)")
    total_steps = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * steps_per_epoch

    if cfg.lock_image and hasattr(model, "lock_image_tower"):
        model.lock_image_tower()
    model.to(device)
    module = model
    net: nn.Module = DDP(model, device_ids=[device.index] if device.type == "cuda" else None) if info.distributed else model
    amp_dtype = _amp_dtype(cfg, device)
    optimizer = torch.optim.AdamW(_param_groups(module, cfg.weight_decay, cfg.decay_all_params), lr=cfg.lr,
                                  betas=cfg.betas, eps=cfg.eps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, CosineWarmup(cfg.warmup_steps, total_steps, cfg.min_lr_ratio))
    scaler = torch.cuda.amp.GradScaler(enabled=amp_dtype == torch.float16)
    criterion = loss_fn if loss_fn is not None else ClipLoss()
    visual_params = list(getattr(module, "visual", nn.Module()).parameters())
    max_log_scale = float(getattr(module, "max_log_scale", math.log(100.0)))

    step, epoch, batch_in_epoch = 0, 0, 0
    resumed_from = None
    if ckpt_path is not None and ckpt is not None:
        saved = ckpt.get("train_config") or {}
        changed = [k for k in _RESUME_KEYS if k in saved and saved[k] != cfg.to_dict()[k]]
        if changed or ckpt.get("world_size", world) != world:
            raise ValueError(f"{ckpt_path}: cannot resume with a different data order; changed: "
                             f"{changed + (['world_size'] if ckpt.get('world_size', world) != world else [])}")
        module.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        # load_state_dict restores the saved schedule; keep this run's length instead (a
        # resumed run given more steps re-plans its cosine from here)
        planned = CosineWarmup(cfg.warmup_steps, total_steps, cfg.min_lr_ratio)
        if vars(scheduler.lr_lambdas[0]) != vars(planned):
            log.warning("resuming with a different schedule (%s -> %s)",
                        vars(scheduler.lr_lambdas[0]), vars(planned))
            scheduler.lr_lambdas[0] = planned
            for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
                group["lr"] = base * planned(scheduler.last_epoch)
        scaler.load_state_dict(ckpt["scaler"])
        step, epoch, batch_in_epoch = int(ckpt["step"]), int(ckpt["epoch"]), int(ckpt["batch_in_epoch"])
        restore_rng(ckpt["rng"][info.rank])
        resumed_from = step
        if info.is_main:
            log.info("resuming from %s (step %d, epoch %d)", ckpt_path, step, epoch)

    transform = image_transform
    if transform is None and hasattr(module, "preprocess_cfg"):
        transform = make_transform(module.preprocess_cfg, is_train=True)
    dataset = with_model_transform(dataset, transform)
    collate = PairCollator(module.report_processor, report_key_of(module), transform)
    groups = batch_groups_of(dataset, cfg.batch_groups) if cfg.batch_groups else None
    tensorboard = (TensorBoardScalars(out / "tensorboard", resumed_from)
                   if cfg.tensorboard and info.is_main else None)
    metrics = MetricsLog(out / "metrics.jsonl", info.is_main, resumed_from)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / "train_config.json") as fh:
            json.dump(cfg.to_dict(), fh, indent=2)
        if resumed_from is not None and ckpt_path == checkpoint_candidates(out)[0]:
            prune_checkpoints(out, cfg.keep_checkpoints)   # a run killed before it pruned

    def autocast() -> contextlib.AbstractContextManager[Any]:
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    def forward(batch: dict[str, Any], wrapped: nn.Module) -> dict[str, torch.Tensor]:
        with autocast():
            return wrapped(batch["image"], batch["report"])

    def loss_of(img: torch.Tensor, rep: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return criterion(img.float(), rep.float(), scale.float())

    def optimizer_step(chunks: list[dict[str, Any]]) -> float:
        net.train()
        losses = []
        if len(chunks) == 1:
            o = forward(chunks[0], net)
            loss = loss_of(o["image_features"], o["report_features"], o["logit_scale"])
            scaler.scale(loss * world).backward()
            losses.append(float(loss.detach()))
        else:
            with torch.no_grad():
                cached = [forward(c, module) for c in chunks]
            for j, c in enumerate(chunks):
                sync = info.distributed and j < len(chunks) - 1
                with net.no_sync() if sync else contextlib.nullcontext():  # type: ignore[operator]
                    o = forward(c, net)
                    img = torch.cat([o["image_features"] if i == j else x["image_features"]
                                     for i, x in enumerate(cached)])
                    rep = torch.cat([o["report_features"] if i == j else x["report_features"]
                                     for i, x in enumerate(cached)])
                    scale = o["logit_scale"] if j == 0 else o["logit_scale"].detach()
                    loss = loss_of(img, rep, scale)
                    scaler.scale(loss * world).backward()
                losses.append(float(loss.detach()))
        if step < cfg.freeze_image_steps:
            for p in visual_params:
                p.grad = None
        if cfg.grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                           cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
        with torch.no_grad():
            module.logit_scale.clamp_(0, max_log_scale)
        return sum(losses) / len(losses)

    def save() -> Path:
        rng = capture_rng()
        if info.distributed:
            import torch.distributed as dist

            all_rng: list[Any] = [None] * world
            dist.all_gather_object(all_rng, rng)
        else:
            all_rng = [rng]
        path = checkpoint_dir(out) / f"step-{step:08d}.pt"
        if info.is_main:
            try:
                save_checkpoint(path, module, optimizer=optimizer.state_dict(),
                                scheduler=scheduler.state_dict(), scaler=scaler.state_dict(),
                                step=step, epoch=epoch, batch_in_epoch=batch_in_epoch, rng=all_rng,
                                train_config=cfg.to_dict(), world_size=world)
                write_latest(out, path, step)
            except (OSError, RuntimeError) as err:   # torch reports a full disk as RuntimeError
                raise write_error(path, err) from None
            prune_checkpoints(out, cfg.keep_checkpoints)
        barrier(info)
        return path

    from tqdm import tqdm

    on_terminal = sys.stderr.isatty()
    bar = tqdm(total=total_steps, initial=step, unit="step", desc="pretrain",
               disable=not (cfg.progress and info.is_main and on_terminal) or None)
    plain = (ProgressLine(total_steps, step, cfg.progress_every or cfg.log_every,
                          cfg.batch_size * cfg.accum_steps * world)
             if cfg.progress and info.is_main and not on_terminal else None)
    start = time.perf_counter()
    start_step = step
    window: list[float] = []
    last_loss = float("nan")
    ckpt_written: Path | None = ckpt_path
    interrupted: str | None = None
    with StopSignals() as signals:
        while step < total_steps and interrupted is None:
            loader = make_loader(dataset, collate, batch_size=cfg.batch_size, seed=cfg.seed,
                                 epoch=epoch, skip_batches=batch_in_epoch, rank=info.rank,
                                 world_size=world, num_workers=cfg.num_workers, drop_last=cfg.drop_last,
                                 groups=groups)
            batches = iter(loader)
            while step < total_steps and batch_in_epoch + cfg.accum_steps <= per_epoch:
                chunks = [move_batch(next(batches), device) for _ in range(cfg.accum_steps)]
                last_loss = optimizer_step(chunks)
                if not math.isfinite(last_loss):
                    raise FloatingPointError(f"loss became {last_loss} at step {step + 1}; lower the "
                                             "learning rate or check the data")
                window.append(last_loss)
                step += 1
                batch_in_epoch += cfg.accum_steps
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}")
                if plain is not None:
                    plain.update(step, epoch, last_loss, scheduler.get_last_lr()[0])
                if step % cfg.log_every == 0 or step == total_steps:
                    elapsed = time.perf_counter() - start
                    pairs = (step - start_step) * cfg.batch_size * cfg.accum_steps * world
                    record = {"step": step, "epoch": epoch, "loss": last_loss,
                              "loss_avg": sum(window) / len(window),
                              "lr": scheduler.get_last_lr()[0],
                              "logit_scale": float(module.logit_scale.detach().exp()),
                              "pairs_per_s": pairs / max(elapsed, 1e-9), "elapsed_s": elapsed}
                    metrics.write(record)
                    if tensorboard is not None:
                        tensorboard.write(record)
                    window = []
                interrupted = agreed_stop(signals.received, info)
                if interrupted is not None:
                    break
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total_steps:
                    ckpt_written = save()
            if batch_in_epoch + cfg.accum_steps > per_epoch:
                epoch += 1
                batch_in_epoch = 0
        bar.close()
        if tensorboard is not None:
            tensorboard.close()
        if interrupted is not None:
            ckpt_written = save()
            if info.is_main:
                log.warning("%s at step %d of %d: checkpoint %s", interrupted, step, total_steps,
                            ckpt_written)
    wall = time.perf_counter() - start
    if interrupted is None and (ckpt_written is None or resumed_from != step):
        ckpt_written = save()
    summary: dict[str, Any] = {
        "steps": step, "epochs": step / steps_per_epoch, "final_loss": last_loss,
        "pairs_per_s": (step - start_step) * cfg.batch_size * cfg.accum_steps * world / max(wall, 1e-9),
        "wall_s": wall, "checkpoint": str(ckpt_written), "model": str(out / "model.pt"),
        "metrics": str(out / "metrics.jsonl"), "world_size": world, "device": str(device),
        "resumed_from": resumed_from, "interrupted": interrupted,
    }
    if info.is_main and interrupted is None:
        try:
            save_checkpoint(out / "model.pt", module)
            with atomic_write(out / "summary.json") as fh:
                json.dump(summary, fh, indent=2)
        except (OSError, RuntimeError) as err:
            raise write_error(out / "model.pt", err) from None
    barrier(info)
    return summary

