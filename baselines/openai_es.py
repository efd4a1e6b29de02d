"""OpenAI-ES (Salimans, Ho, Chen, Sidor, Sutskever 2017) pinned to the published settings.

This is NOT a second implementation: it is ``blackbox.solvers.es.ES`` (antithetic Gaussian
perturbations read as windows of a shared seeded noise table, so only table offsets travel;
centred-rank fitness shaping over all 2n losses; the gradient estimate sum_i (w_i+ - w_i-) eps_i
/ (2n); Adam on the mean; L2 weight decay added to the gradient; a fixed sigma) with a Config
whose defaults are the paper's, so ``--solver openai-es`` runs the published method unchanged.

Published settings (paper section 2/3 and the authors' released MuJoCo configurations) and what
is kept here:

  noise std sigma           0.02, fixed                      kept (sigma0 = sigma_end = 0.02)
  optimizer                 Adam, step size 0.01             kept (beta1 0.9, beta2 0.999, eps 1e-8)
  L2 weight decay           0.005                            kept
  fitness shaping           centred ranks in [-0.5, 0.5]     kept (tied losses share their rank:
                                                             a flat generation moves nothing)
  mirrored sampling         antithetic pairs                 kept
  noise table               250M float32, one seed           scaled: max(2**22, 4*dim) float32
                                                             (the paper's 1 GB table buys nothing at
                                                             these dimensions), seed ``noise_seed``
  population                thousands of episodes per        a budget choice, not part of the
                            iteration (released Humanoid     method: 0 = auto max(16, 4+3 ln dim),
                            config: 10,000) on many cores    set ``popsize`` to match a budget
  observation normalization, virtual batch norm              control-specific; a problem's business
                                                             (the gym problem has its own option)
"""
from __future__ import annotations

from dataclasses import dataclass

from blackbox.solvers.es import ES, ESConfig


@dataclass
class OpenAIESConfig(ESConfig):
    """OpenAI-ES at the published settings (Salimans et al. 2017)."""

    optimizer: str = "adam"  # paper: Adam
    lr: float = 0.01  # paper: Adam step size 0.01
    lr_end: float = 0.01  # paper: constant step size
    weight_decay: float = 0.005  # paper: L2 coefficient 0.005
    antithetic: bool = True  # paper: mirrored (antithetic) sampling
    sigma0: float = 0.02  # paper: noise std 0.02
    sigma_end: float = 0.02  # paper: fixed sigma
    fitness: str = "centered_ranks"  # paper: centred ranks
    noise: str = "table"  # paper: shared noise table, only indices travel


class OpenAIES(ES):
    """``es`` with the paper's defaults; the update is ES.tell, unchanged."""

    name = "openai-es"
    Config = OpenAIESConfig
