"""``avemotion train``: fit the model on a RAVDESS-layout dataset, single process or under torchrun.

Under ``torchrun`` (``WORLD_SIZE``/``LOCAL_RANK`` set) this joins the process group (nccl on CUDA,
gloo on CPU) and lets ``AudiovisualEmotionLearner.fit`` do DDP + DistributedSampler; rank 0 fills
the feature cache while the others wait, and only rank 0 writes the model.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from avemotion_core.cli.common import UsageError, add_device, check_device, positive_int
from avemotion_core.cli.data_args import add_dataset_args, load_datasets
from avemotion_core.cli.recipes import RECIPE_NAMES
from avemotion_core.modes import DROPOUT_MODES, EVAL_MODES, FUSIONS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a model (also under torchrun for DDP)",
        description="Train MultiModalCNN with the learner's options. Options can come from a YAML "
        "--config (keys = option names); flags given on the command line win.",
    )
    add_dataset_args(p)
    p.add_argument("--recipe", choices=RECIPE_NAMES, default=None,
                   help="paper: the paper's/OpenDR's hyper-parameters, 224 px, zerodrop and actor split; "
                   "--config values and flags still win and are reported")
    p.add_argument("--config", default=None, help="YAML file of option values")
    p.add_argument("--out", default="model", help="output model directory (default ./model)")
    p.add_argument(
        "--run-dir",
        default="runs",
        help="TensorBoard logs + checkpoints (default ./runs; not --logs: torchrun owns --log-dir)",
    )
    p.add_argument("--fusion", choices=FUSIONS, default="ia")
    p.add_argument("--mod-drop", choices=DROPOUT_MODES, default="zerodrop",
                   help="modality dropout in training")
    p.add_argument("--pretr-ef", default=None, help="EfficientFace checkpoint for the visual branch")
    p.add_argument("--lr", type=float, default=0.04)
    p.add_argument(
        "--lr-steps",
        type=int,
        nargs="+",
        default=[40, 55, 65, 70, 200, 250],
        help="epochs where lr is multiplied by 0.1",
    )
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--dampening", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-3)
    p.add_argument("--epochs", type=positive_int, default=100)
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers")
    p.add_argument("--checkpoint-every", type=int, default=0, help="also keep epoch_NNNN.pt every N epochs")
    p.add_argument(
        "--resume-epoch",
        type=int,
        default=0,
        help="resume from RUN_DIR/checkpoints/epoch_NNNN.pt (needs --checkpoint-every earlier)",
    )
    p.add_argument(
        "--eval-mode",
        choices=EVAL_MODES,
        default="audiovisual",
        help="validation mode that picks the best checkpoint",
    )
    p.add_argument("--restore-best", action="store_true", help="save the best-validation weights")
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="bf16 autocast (default: on for CUDA, off on CPU)",
    )
    p.add_argument(
        "--checkpoint-frames",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="recompute the per-frame backbone's activations in backward: same gradients, a fraction of "
        "the memory, slower (default: on for CPU, off on CUDA)",
    )
    p.add_argument("--ignore-memory-estimate", action="store_true",
                   help="train even when the RAM estimate exceeds the memory available (CPU)")
    p.add_argument("--seed", type=int, default=0)
    add_device(p)
    return p


def _distributed_setup(device: str) -> tuple[str, bool]:
    """Join the torchrun process group if the launcher's env vars are set; return the local device."""
    if "WORLD_SIZE" not in os.environ or "LOCAL_RANK" not in os.environ:
        return device, False
    import torch
    import torch.distributed as dist

    local_rank = int(os.environ["LOCAL_RANK"])
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
        # naming the device lets NCCL bind eagerly instead of guessing it from the global rank
        dist.init_process_group(backend="nccl", device_id=torch.device(device))
    else:
        dist.init_process_group(backend="gloo")
    return device, True


def run(args: argparse.Namespace) -> int:
    import torch.distributed as dist

    check_device(args.device)
    if args.resume_epoch < 0 or args.checkpoint_every < 0:
        raise UsageError("--resume-epoch and --checkpoint-every must be >= 0")
    if args.resume_epoch >= args.epochs:
        raise UsageError(f"--resume-epoch {args.resume_epoch} must be < --epochs {args.epochs}")
    if args.pretr_ef is not None and not Path(args.pretr_ef).is_file():
        raise UsageError(f"--pretr-ef file not found: {args.pretr_ef}")
    if args.resume_epoch:
        ckpt = Path(args.run_dir) / "checkpoints" / f"epoch_{args.resume_epoch:04d}.pt"
        if not ckpt.is_file():
            raise UsageError(f"cannot resume: {ckpt} does not exist (train with --checkpoint-every)")
    _check_memory(args)
    device, distributed = _distributed_setup(args.device)
    try:
        return _train(args, device, distributed)
    finally:
        if distributed and dist.is_initialized():
            dist.destroy_process_group()


def _check_memory(args: argparse.Namespace) -> None:
    """Refuse, before any preprocessing, a CPU run whose estimated peak RAM exceeds what is available.

    Under torchrun every local process holds its own batch, so the estimate counts them all. With
    ``--recipe`` the resolved set-up and the expected time per epoch are printed here too.
    """
    from avemotion_core.train.memory import memory_problem

    on_cpu = not args.device.startswith("cuda")
    checkpoint = on_cpu if args.checkpoint_frames is None else args.checkpoint_frames
    if args.recipe is not None and os.environ.get("RANK", "0") == "0":
        from avemotion_core.cli.recipes import recipe_lines

        for line in recipe_lines(args, checkpoint):
            print(line, flush=True)
    if not on_cpu or args.ignore_memory_estimate:
        return
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    problem = memory_problem(args.image_size, args.batch_size, args.mod_drop, checkpoint, processes)
    if problem is not None:
        raise UsageError(problem)


def _train(args: argparse.Namespace, device: str, distributed: bool) -> int:
    import torch.distributed as dist

    from avemotion_core.learner import AudiovisualEmotionLearner

    main_rank = not distributed or dist.get_rank() == 0
    if distributed:  # one process fills the cache; the others read it once it is complete
        if main_rank:
            load_datasets(args, preprocess=True)
        dist.barrier()
        train, val, _ = load_datasets(args, preprocess=False)
    else:
        train, val, _ = load_datasets(args, preprocess=True)
    learner = AudiovisualEmotionLearner(
        fusion=args.fusion,
        mod_drop=args.mod_drop,
        pretr_ef=args.pretr_ef,
        lr=args.lr,
        lr_steps=args.lr_steps,
        momentum=args.momentum,
        dampening=args.dampening,
        weight_decay=args.weight_decay,
        iters=args.epochs,
        batch_size=args.batch_size,
        n_workers=args.workers,
        checkpoint_after_iter=args.checkpoint_every,
        checkpoint_load_iter=args.resume_epoch,
        temp_path=args.run_dir,
        device=device,
        amp=args.amp,
        seed=args.seed,
        image_size=args.image_size,
        checkpoint_frames=args.checkpoint_frames,
    )
    learner.face_detector = args.face_detector  # recorded, so the node crops faces as training did
    if main_rank:
        world = dist.get_world_size() if distributed else 1
        print(
            f"training on {len(train)} clips (val {len(val)}), {world} process(es), device {device}, "
            f"amp {learner.amp}, backbone checkpointing {'on' if learner.checkpoint_frames else 'off'}",
            flush=True,
        )
    history = learner.fit(
        train,
        val if len(val) else None,
        logging_path=args.run_dir,
        silent=args.no_progress or not main_rank,
        verbose=main_rank,
        eval_mode=args.eval_mode,
        restore_best=args.restore_best,
    )
    if main_rank and args.no_progress:  # fit was silent: still report the curves, one line per epoch
        for k, (loss, acc) in enumerate(zip(history["train_loss"], history["train_acc"], strict=True)):
            val = history["val_acc"][k] if k < len(history["val_acc"]) else None
            print(
                f"epoch {k + 1}/{args.epochs} train loss {loss:.4f} acc {acc:.4f}"
                + (f" | val acc {val:.4f}" if val is not None else "")
            )
    if main_rank:
        out = learner.save(args.out, verbose=False)
        last = f"train acc {history['train_acc'][-1]:.4f}" if history["train_acc"] else "no epochs run"
        print(f"saved model to {out} ({last}); TensorBoard logs in {args.run_dir}", flush=True)
    return 0
