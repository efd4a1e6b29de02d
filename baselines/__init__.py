"""Reference baselines, registered as solvers like any other (their summaries say "baseline").

openai-es     the OpenAI-ES of Salimans et al. 2017 at the published settings (``openai_es``)
spsa, mezo    two-point (SPSA / MeZO-style) gradient estimates, perturbations re-drawn from a seed
cma-es        CMA-ES through pycma (separable/diagonal above a dimension threshold)
adam-ceiling  Adam on a problem's smooth surrogate twin: a gradient ceiling, NOT gradient-free
random        random search (``blackbox.solvers.random_search``)

Head-to-head runs go through ``blackbox.compare`` (``blackbox compare``); the paper's
comparisons at this machine's scale are the ``*.toml`` grids beside this file (see README.md).
"""
