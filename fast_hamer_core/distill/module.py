"""The Lightning module of the distillation trainer: student + frozen teacher + phi + optional discriminator.

One optimiser step per batch (automatic optimisation, so Lightning's fp16 scaling, gradient clipping,
DDP and ``global_step`` all behave as usual). The adversarial prior, which HaMeR trains with a second
optimiser, is folded into the same step: the generator term sees the discriminator's parameters
detached (``torch.func.functional_call``), the discriminator term sees the student's outputs detached,
so each set of weights gets exactly the gradient of its own loss; AdamW treats the two parameter
groups independently.

The teacher is deliberately *not* a sub-module: it never enters the state dict, the checkpoints, the
optimiser or DDP's parameter lists, and ``LightningModule.train()`` cannot switch it to train mode
(which would turn on ViT-H's 0.55 drop-path). It is frozen (``requires_grad=False``), put in eval
mode again whenever this module's mode changes and at every epoch start, run under ``torch.no_grad``
and, on a GPU, fp16 autocast.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.func import functional_call

from fast_hamer_core.distill.config import TrainConfig
from fast_hamer_core.distill.discriminator import Discriminator
from fast_hamer_core.distill.losses import (
    MANO_PARAM_KEYS,
    FeatureProjector,
    adversarial_discriminator_loss,
    adversarial_generator_loss,
    feature_kd_loss,
    ground_truth_losses,
    output_kd_losses,
)
from fast_hamer_core.models.hand_model import HandMeshModel

log = logging.getLogger(__name__)

TEACHER_KEYS: tuple[str, ...] = ("keypoints_2d", "keypoints_3d", *MANO_PARAM_KEYS)


def freeze(model: torch.nn.Module) -> torch.nn.Module:
    """``requires_grad=False`` everywhere and eval mode; returns the model."""
    model.requires_grad_(False)
    return model.eval()


class DistillModule(pl.LightningModule):
    """Trains ``student`` with HaMeR's supervised losses and the configured distillation strategy.

    Args:
        config: the training config.
        student: HandMeshModel with a MANO layer (the GT losses need its keypoints).
        teacher: HandMeshModel with MANO, or None when the strategy is ``none`` or every target comes
            from the teacher cache.
        teacher_channels: teacher feature channels for phi when no teacher is given (feature KD from
            the cache).
        mocap: (hand_pose (N, 15, 3, 3), betas (N, 10)) real samples for the adversarial prior.
    """

    def __init__(
        self,
        config: TrainConfig,
        student: HandMeshModel,
        teacher: HandMeshModel | None = None,
        teacher_channels: int | None = None,
        mocap: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        if not student.has_mano:
            raise ValueError("the student needs a MANO layer (its keypoints enter the losses)")
        if teacher is not None and config.uses_output_kd and not teacher.has_mano:
            raise ValueError("output-level KD needs a teacher with a MANO layer")
        self.config = config
        self.student = student
        self._teacher: list[HandMeshModel] = [freeze(teacher)] if teacher is not None else []
        self.phi: FeatureProjector | None = None
        if config.uses_feature_kd:
            channels = teacher.config.context_dim if teacher is not None else teacher_channels
            if channels is None:
                raise ValueError("feature KD needs the teacher (or its channel count) to build phi")
            self.phi = FeatureProjector(channels, student.config.context_dim)
        self.discriminator: Discriminator | None = None
        if config.loss.adversarial > 0:
            if mocap is None:
                raise ValueError("loss.adversarial > 0 needs MoCap data (data.mocap)")
            self.discriminator = Discriminator()
            self.register_buffer("mocap_pose", torch.as_tensor(mocap[0]), persistent=False)
            self.register_buffer("mocap_betas", torch.as_tensor(mocap[1]), persistent=False)

    # ----------------------------------------------------------------------------------------------
    # The teacher: frozen, eval mode, never a sub-module

    @property
    def teacher(self) -> HandMeshModel | None:
        return self._teacher[0] if self._teacher else None

    def train(self, mode: bool = True) -> DistillModule:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def _teacher_to_device(self) -> None:
        t = self.teacher
        if t is not None:
            p = next(t.parameters())
            if p.device != self.device:
                t.to(self.device)
            t.eval()

    def on_fit_start(self) -> None:
        self._teacher_to_device()

    def on_train_epoch_start(self) -> None:
        self._teacher_to_device()

    def on_train_epoch_end(self) -> None:
        """After the first pass, a resumed run's stream no longer skips (DataLoader workers copy the
        dataset again each epoch)."""
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        if hasattr(dataset, "resume_batches"):
            dataset.resume_batches = 0

    def teacher_targets(
        self, batch: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor] | None, torch.Tensor | None]:
        """Teacher outputs / feature map for this batch: from the cache when the batch carries them,
        else by running the teacher (no grad, fp16 autocast on GPU). None for what is not needed."""
        cfg = self.config
        outputs = features = None
        if cfg.uses_output_kd and "teacher_keypoints_2d" in batch:
            outputs = {k: batch[f"teacher_{k}"].float() for k in TEACHER_KEYS}
        if cfg.uses_feature_kd and "teacher_features" in batch:
            features = batch["teacher_features"]
        need_out = cfg.uses_output_kd and outputs is None
        need_feat = cfg.uses_feature_kd and features is None
        if need_out or need_feat:
            t = self.teacher
            if t is None:
                raise RuntimeError(
                    "distillation targets missing: the batch has no cached teacher targets for "
                    f"{batch.get('sample_id', ['?'])[:3]}... and no teacher is loaded; rebuild the cache "
                    "with `fast-hamer distill-cache` or train without data.cache_dir"
                )
            if t.training:  # never allowed to drift (drop-path would change the targets)
                t.eval()
            x = batch["img"]
            with (
                torch.no_grad(),
                torch.autocast(
                    device_type=x.device.type, dtype=torch.float16, enabled=x.device.type == "cuda"
                ),
            ):
                if need_out:
                    res = t(x)
                    outputs = {
                        "keypoints_2d": res["pred_keypoints_2d"].float(),
                        "keypoints_3d": res["pred_keypoints_3d"].float(),
                        **{k: res["pred_mano_params"][k].float() for k in MANO_PARAM_KEYS},
                    }
                    feats = res["features"]
                else:
                    feats = t.forward_features(x)
            if need_feat:
                features = feats.float()
        return outputs, features

    # ----------------------------------------------------------------------------------------------
    # Losses and the step

    def compute_losses(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """All loss terms of one batch; ``loss`` is the total to minimise, ``kd`` the (unscaled) KD term."""
        cfg = self.config
        out = self.student(batch["img"])
        terms = ground_truth_losses(out, batch, cfg.loss)
        total = terms["gt"]
        kd = torch.zeros((), device=total.device)
        if cfg.needs_teacher:
            t_out, t_feat = self.teacher_targets(batch)
            if t_out is not None:
                o = output_kd_losses(out, t_out, cfg.loss)
                terms.update(o)
                kd = kd + o["output_kd"]
            if t_feat is not None:
                assert self.phi is not None
                f = feature_kd_loss(out["features"], t_feat, self.phi)
                terms["feature_kd"] = f
                kd = kd + cfg.distill.feature_weight * f
            total = total + cfg.distill.lambda_kd * kd
        terms["kd"] = kd
        if self.discriminator is not None:
            b = batch["img"].shape[0]
            pose, betas = out["pred_mano_params"]["hand_pose"], out["pred_mano_params"]["betas"]
            frozen = {n: p.detach() for n, p in self.discriminator.named_parameters()}
            gen = adversarial_generator_loss(functional_call(self.discriminator, frozen, (pose, betas)))
            # the MoCap draw of a step depends on (seed, step) only: a resumed run draws what it would have
            g = torch.Generator(device=self.device).manual_seed(
                self.config.run.seed * 1_000_003 + self.global_step
            )
            idx = torch.randint(
                len(self.mocap_pose),
                (b * self.config.optim.mocap_per_sample,),
                device=self.device,
                generator=g,
            )
            disc = adversarial_discriminator_loss(
                self.discriminator(pose.detach(), betas.detach()),
                self.discriminator(self.mocap_pose[idx], self.mocap_betas[idx]),
            )
            terms["adversarial_gen"], terms["adversarial_disc"] = gen, disc
            total = total + cfg.loss.adversarial * (gen + disc)
        terms["loss"] = total
        return terms

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        terms = self.compute_losses(batch)
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(f"loss is {terms['loss'].item()} at step {self.global_step}")
        b = batch["img"].shape[0]
        self.log("train/loss", terms["loss"], prog_bar=True, batch_size=b)
        if self.config.needs_teacher:
            self.log("train/kd", terms["kd"], prog_bar=True, batch_size=b)
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in terms.items() if k not in ("loss", "kd")}, batch_size=b
        )
        self.log("train/lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=b)
        return {"loss": terms["loss"], **{k: v.detach() for k, v in terms.items() if k != "loss"}}

    # ----------------------------------------------------------------------------------------------
    # Validation on the held-out split (data.val): ground-truth loss and PA-MPJPE

    def on_validation_epoch_start(self) -> None:
        self._val_errors_mm: list[np.ndarray] = []

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """The supervised loss (``val/loss_gt``, HaMeR's weights; no KD term: the teacher may be absent)
        and the per-hand PA-MPJPE of the 21 joints against the annotated 3D keypoints, in mm."""
        from fast_hamer_core.evaluation.metrics import pa_mpjpe_mm

        out = self.student(batch["img"])
        terms = ground_truth_losses(out, batch, self.config.loss)
        b = batch["img"].shape[0]
        self.log("val/loss_gt", terms["gt"], batch_size=b, sync_dist=True)
        gt = batch["keypoints_3d"]  # (B, 21, 4): xyz + confidence
        keep = (gt[..., 3] > 0).all(dim=1).cpu().numpy()
        if keep.any():
            pred = out["pred_keypoints_3d"].detach().double().cpu().numpy()[keep]
            self._val_errors_mm.append(pa_mpjpe_mm(pred, gt[..., :3].double().cpu().numpy()[keep]))

    def on_validation_epoch_end(self) -> None:
        errors = getattr(self, "_val_errors_mm", [])
        if errors:
            e = np.concatenate(errors)
            self.log("val/pa_mpjpe_mm", float(e.mean()), sync_dist=True)
            log.info("step %d: validation PA-MPJPE %.2f mm on %d hands", self.global_step, e.mean(), len(e))

    # ----------------------------------------------------------------------------------------------
    # Optimiser and checkpoints

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over student + phi (the public code forgets phi) + discriminator, same lr / weight decay."""
        o = self.config.optim
        groups = [{"params": [p for p in self.student.parameters() if p.requires_grad], "name": "student"}]
        if self.phi is not None:
            groups.append({"params": list(self.phi.parameters()), "name": "phi"})
        if self.discriminator is not None:
            groups.append({"params": list(self.discriminator.parameters()), "name": "discriminator"})
        return torch.optim.AdamW(groups, lr=o.lr, weight_decay=o.weight_decay)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["fast_hamer_train_config"] = self.config.to_dict()
        checkpoint["fast_hamer_student"] = self.student.config.to_dict()
