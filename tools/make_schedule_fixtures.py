#!/usr/bin/env python3
"""Writes tests/fixtures/eval/multisteplr.json: the learning rate of every epoch under PyTorch's MultiStepLR,
stepped once per epoch as SelfSuperReconst's decoder training does (lr 5e-3, milestones [100, 140], gamma 0.2),
for vox2pix's `decoder_training.lr_milestones`.

    PYTHONPATH=$VOX2PIX_TORCH_DIR python3 tools/make_schedule_fixtures.py
"""
import json
import os

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "eval", "multisteplr.json")
cases = []
for lr, milestones, gamma, epochs in [(5e-3, [100, 140], 0.2, 160), (1e-3, [1, 3, 4], 0.5, 6)]:
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=gamma)
    lrs = []
    for _ in range(epochs):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    cases.append({"lr": lr, "milestones": milestones, "gamma": gamma, "lrs": lrs})
with open(OUT, "w") as f:
    json.dump(cases, f)
print("wrote", os.path.abspath(OUT))
