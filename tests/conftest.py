"""Shared fixtures: the suite runs on 2 CPU cores, so torch stays at 2 threads."""

import torch

torch.set_num_threads(2)
