"""Control-policy problems on gymnasium: policy forward, quantization, seeding, vectorized rollouts."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import gymnasium as gym  # the test extra installs it: fail, never skip

from blackbox.problems.control import TEST_SEED0, VALIDATION_SEED0, GymConfig, GymPolicy, save_animation  # noqa: E402


def cartpole_hand_policy(problem: GymPolicy) -> np.ndarray:
    """Push right when pole angle + angular velocity (+ a little cart velocity) point right."""
    assert problem.config.arch == "linear" and not problem.config.normalize
    W = np.zeros((4, 2))
    W[:, 1] = [0.1, 0.5, 1.0, 1.0]
    x = np.zeros(problem.dim)
    x[:8] = W.ravel()
    return x


def reference_returns(problem: GymPolicy, population, seeds) -> np.ndarray:
    """One wrapped gymnasium env per candidate and episode, one step at a time (the slow, obvious way)."""
    out = np.zeros((len(population), len(seeds)))
    for i, x in enumerate(population):
        weights = problem.weights(x[None, :])
        for j, s in enumerate(seeds):
            env = gym.make(problem.config.env, max_episode_steps=problem.max_steps)
            obs, _ = env.reset(seed=int(s))
            done = False
            while not done:
                a = problem.act(weights, np.asarray(obs, dtype=np.float64)[None, None, :])[0, 0]
                a = int(a) if problem.discrete else np.asarray(a, dtype=np.float32)
                obs, r, term, trunc, _ = env.step(a)
                out[i, j] += r
                done = term or trunc
    return out


def test_import_blackbox_does_not_import_gymnasium():
    code = "import sys, blackbox; assert 'gymnasium' not in sys.modules and 'blackbox.problems.control' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_registered():
    from blackbox.registry import problem_class
    assert problem_class("gym") is GymPolicy


@pytest.mark.parametrize("env,arch", [("CartPole-v1", "linear"), ("CartPole-v1", "mlp"), ("Acrobot-v1", "mlp"),
                                      ("Pendulum-v1", "linear"), ("Pendulum-v1", "mlp")])
def test_forward_shapes(env, arch):
    p = GymPolicy(GymConfig(env=env, arch=arch, hidden=5, norm_episodes=2))
    assert p.dim == sum(int(np.prod(shape)) for _, _, shape in p.layout)
    rng = np.random.default_rng(0)
    pop = np.stack([p.initial(rng) for _ in range(3)])
    obs = rng.normal(size=(3, 4, p.obs_dim))
    a = p.act(p.weights(pop), obs)
    if p.discrete:
        assert a.shape == (3, 4) and a.min() >= 0 and a.max() < p.n_actions
    else:
        assert a.shape == (3, 4, p.act_dim)
        assert np.all(a >= p.act_low) and np.all(a <= p.act_high)
    assert p.evaluate(pop, seed=1).shape == (3,)


def test_int8_quantization_applied():
    p = GymPolicy(GymConfig(policy="int8", arch="mlp", hidden=8, norm_episodes=0))
    x = np.random.default_rng(1).normal(size=(2, p.dim))
    for W, b in p.weights(x):
        for t in (W, b):
            for cand in t:
                scale = np.abs(cand).max() / 127
                q = cand / scale
                assert np.allclose(q, np.rint(q), atol=1e-9) and np.abs(q).max() <= 127 + 1e-9
    # a change below the quantization step leaves the policy unchanged; a float policy moves
    y = x[:1].copy()
    y[0, 1] += 1e-4 * np.abs(y[0, :p._sizes[0] * p._sizes[1]]).max() / 127
    assert np.array_equal(p.weights(y)[0][0], p.weights(x[:1])[0][0])


def test_binary_quantization_applied():
    p = GymPolicy(GymConfig(policy="binary", arch="mlp", hidden=6, norm_episodes=0))
    x = np.random.default_rng(2).normal(size=(3, p.dim))
    for (W, b), fan_in in zip(p.weights(x), p._sizes[:-1]):
        assert np.allclose(np.abs(W), 1 / np.sqrt(fan_in)) and np.allclose(np.abs(b), 1 / np.sqrt(fan_in))
    assert np.array_equal(p.evaluate(x, seed=3), p.evaluate(np.sign(x) * 7.0, seed=3))  # only signs matter
    bits = GymPolicy(GymConfig(policy="binary", encoding="bits", arch="mlp", hidden=6, norm_episodes=0))
    assert bits.domain.kind == "binary"
    b = (x > 0).astype(np.int8)
    for (W1, _), (W2, _) in zip(bits.weights(b), p.weights(x)):
        assert np.array_equal(W1, W2)


def test_quantized_activations():
    p = GymPolicy(GymConfig(policy="binary", arch="mlp", hidden=4, quantize_activations=True, norm_episodes=0))
    h = p._hidden_activation(np.array([-0.3, 0.0, 2.0]))
    assert np.array_equal(h, [-1.0, 1.0, 1.0])
    q = GymPolicy(GymConfig(policy="int8", arch="mlp", hidden=4, quantize_activations=True, norm_episodes=0))
    h = q._hidden_activation(np.linspace(-3, 3, 50))
    assert np.allclose(h * 127, np.rint(h * 127))


def test_same_seed_same_losses_and_shared_episodes():
    p = GymPolicy(GymConfig(env="CartPole-v1", episodes=4, normalize=False))
    rng = np.random.default_rng(0)
    pop = rng.normal(0, 0.5, size=(6, p.dim))
    pop[3] = pop[1]  # two identical candidates see the same episodes -> identical losses
    pop[5] = cartpole_hand_policy(p)
    a, b = p.evaluate(pop, seed=7), p.evaluate(pop, seed=7)
    assert np.array_equal(a, b)
    assert a[3] == a[1]
    assert a[5] == -500.0  # the hand policy balances every episode
    assert np.array_equal(p.episode_seeds(7), p.episode_seeds(7))
    assert not np.array_equal(p.episode_seeds(7), p.episode_seeds(8))
    assert p.episode_seeds(123).max() < VALIDATION_SEED0  # training never uses the report's seeds


def test_report_uses_fresh_seeds_and_the_standard_horizon():
    p = GymPolicy(GymConfig(normalize=False, eval_episodes=3, test_episodes=4, max_steps=50))
    x = cartpole_hand_policy(p)
    assert p.evaluate(x[None], seed=0)[0] == -50.0  # training episodes are cut at max_steps
    assert p.metrics(x)["return"] == 500.0 and p.metrics(x)["episodes"] == 3
    assert p.validation_loss(x) == -500.0
    t = p.test_metrics(x)
    assert t["test_return"] == 500.0 and t["test_episodes"] == 4


def test_extra_validation_follows_the_first_validation_set():
    p = GymPolicy(GymConfig(eval_episodes=3))
    X = np.random.default_rng(1).normal(size=(2, p.dim))  # random CartPole policies: returns vary by seed
    first_five = p.returns(X, VALIDATION_SEED0 + np.arange(5), p.eval_max_steps)
    assert not np.array_equal(first_five[:, :2], first_five[:, 3:])
    assert np.array_equal(p.extra_validation_returns(X, 2), first_five[:, 3:])  # seeds 2**30 + 3, + 4
    with pytest.raises(ValueError, match="test seeds"):
        p.extra_validation_returns(X, TEST_SEED0 - VALIDATION_SEED0)


def test_vectorized_equals_reference_cartpole():
    p = GymPolicy(GymConfig(env="CartPole-v1", max_steps=120, norm_episodes=3))
    assert p.backend == "vector_entry_point"
    rng = np.random.default_rng(3)
    pop = rng.normal(0, 1.0, size=(5, p.dim))
    seeds = [11, 12]
    fast = p.returns(pop, seeds)
    assert p._pools.get(("vector_entry_point", 10)) is not None  # the native vector env was really used
    assert np.array_equal(fast, reference_returns(p, pop, seeds))
    sync = GymPolicy(GymConfig(env="CartPole-v1", max_steps=120, norm_episodes=3, vectorization="sync"))
    assert np.array_equal(sync.returns(pop, seeds), fast)


@pytest.mark.parametrize("env,mode", [("Acrobot-v1", "sync"), ("Pendulum-v1", "auto"), ("LunarLander-v3", "auto")])
def test_sync_equals_reference(env, mode):
    p = GymPolicy(GymConfig(env=env, arch="mlp", hidden=4, max_steps=40, policy="int8", vectorization=mode))
    assert p.backend == "sync"
    pop = np.random.default_rng(4).normal(0, 1.0, size=(3, p.dim))
    seeds = [5, 6]
    assert np.allclose(p.returns(pop, seeds), reference_returns(p, pop, seeds))


def test_numpy_batch_acrobot_equals_reference():
    """The numpy Acrobot batch reproduces gymnasium's Acrobot exactly, episode ends included."""
    p = GymPolicy(GymConfig(env="Acrobot-v1", max_steps=250))
    assert p.backend == "numpy"
    rng = np.random.default_rng(5)
    pop = rng.normal(0, 1.0, size=(4, p.dim))
    pop[0] = 0.0
    pop[0][[5, 17]] = [1.0, 1.0]  # torque +1 when dtheta2 > 0, else -1: pumps energy, reaches the goal
    seeds = [21, 22]
    fast = p.returns(pop, seeds)
    assert fast[0].max() > -250  # at least one episode ends early, so termination is compared too
    assert np.array_equal(fast, reference_returns(p, pop, seeds))


def test_normalization_is_reproducible():
    a = GymPolicy(GymConfig(env="Acrobot-v1", normalize=True, norm_episodes=2, max_steps=50))
    b = GymPolicy(GymConfig(env="Acrobot-v1", normalize=True, norm_episodes=2, max_steps=50))
    assert np.array_equal(a.obs_mean, b.obs_mean) and np.array_equal(a.obs_std, b.obs_std)
    assert not np.allclose(a.obs_std, 1.0)


def test_config_errors():
    with pytest.raises(ValueError, match="policy"):
        GymPolicy(GymConfig(policy="ternary"))
    with pytest.raises(ValueError, match="encoding"):
        GymPolicy(GymConfig(encoding="bits"))
    with pytest.raises(ValueError, match="unknown environment"):
        GymPolicy(GymConfig(env="NoSuchEnv-v9"))


def test_gif(tmp_path):
    from PIL import Image
    p = GymPolicy(GymConfig(normalize=False))
    path = save_animation(p, cartpole_hand_policy(p), tmp_path / "cp.gif", max_frames=4, max_steps=6)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames >= 2
    x = np.zeros(p.dim)  # always pushes left: the pole falls within a few dozen steps
    assert p.save_artifacts(x, str(tmp_path / "run")) == [str(tmp_path / "run.gif")]
    assert TEST_SEED0 > VALIDATION_SEED0
