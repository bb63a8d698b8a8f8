"""A model's training summary: the facts of its training, typed; stored in a checkpoint as one JSON object.

Every field is optional (None: not known), because models come from many places: a training run fills all of
them, older checkpoints fewer, a model built by hand none. to_dict() writes only the known ones, so a summary
round-trips to the same JSON it was read from. Keys this version does not know (a newer patch-toon's, or a
tool's own such as the prior's recipe) are kept in `extra` and written back: a summary records facts, and a
fact this version cannot read is no reason to refuse a model (its network and guides are checked apart).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field


@dataclass
class TrainSummary:
    steps: int | None = None                # optimizer steps of this run
    seconds: float | None = None            # its wall-clock time
    preset: str | None = None               # the network preset ('fast', ...)
    loss: dict | None = None                # the loss terms' weights (config.LossConfig)
    final_losses: dict | None = None        # the loss terms at the end, averaged over the last report window
    keyframe_indices: list[int] | None = None  # frame numbers of the keyframes in the training clip
    frame_size: list[int] | None = None     # [H, W] of the training frames
    seed: int | None = None
    batch_size: int | None = None
    patch_size: int | None = None
    learning_rate: float | None = None      # the base rate of the schedule
    small_patch_steps: int | None = None    # steps trained on small patches first
    small_patch_size: int | None = None
    prior: str | None = None                # starting weights: "shipped" ("shipped <name>" for another shipped
    #                                         prior), a file name, or "" (random or warm)
    device: str | None = None
    precision: str | None = None
    threads: int | None = None
    library_version: str | None = None
    stopped_early: bool | None = None       # finished before its budget (Finish now, a cancel)
    warm_start: dict | None = None          # the model this one continued (train.warm_start.warm_start_record)
    masks: bool | None = None               # trained with keyframe masks (format 1 models need them again)
    alignment: list[dict] | None = None     # per keyframe, what registration did (frames.align.AlignmentReport)
    guides_auto: dict | None = None         # what `guides: auto` chose and why, with the statistics measured
    #                                         (guides.auto.GuideChoice.to_dict()); None: guides given by name
    extra: dict = field(default_factory=dict)  # keys of other writers, kept as they were

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrainSummary":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        data = dict(data or {})
        return cls(**{k: v for k, v in data.items() if k in names},
                   extra={k: v for k, v in data.items() if k not in names})

    def to_dict(self) -> dict:
        known = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**{k: v for k, v in known.items() if v is not None}, **copy.deepcopy(self.extra)}

    def copy(self) -> "TrainSummary":
        return copy.deepcopy(self)
