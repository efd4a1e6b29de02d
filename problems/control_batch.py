"""Numpy batch versions of gymnasium environments that have no ``vector_entry_point``.

Each class steps N copies of one environment at once with exactly the arithmetic of gymnasium's
single environment (same expressions in the same order, float64 state), so a rollout gives the same
returns as the single environment from the same start state; tests/test_gym.py checks this against
gymnasium itself. The interface is the part of a gymnasium vector env the rollout uses: a ``state``
array of shape (state_dim, N) that the caller sets to the start states (taken from single-environment
resets of the episode seeds), and ``step(actions) -> (obs, reward, terminated, truncated, info)``.
Time limits are the caller's business (``truncated`` is always False); rewards after an episode's
end are the caller's to mask.

Acrobot-v1: gymnasium's RK4 in Python costs ~200 us a step; this batch runs thousands of copies
for about the cost of one step of the Python loop.
"""
from __future__ import annotations

import numpy as np
from numpy import pi


class AcrobotBatch:
    """gymnasium.envs.classic_control.AcrobotEnv ("book" dynamics, no torque noise) for N copies."""

    dt = 0.2
    LINK_LENGTH_1 = 1.0
    LINK_MASS_1 = 1.0
    LINK_MASS_2 = 1.0
    LINK_COM_POS_1 = 0.5
    LINK_COM_POS_2 = 0.5
    LINK_MOI = 1.0
    MAX_VEL_1 = 4 * pi
    MAX_VEL_2 = 9 * pi
    AVAIL_TORQUE = np.array([-1.0, 0.0, +1.0])

    @classmethod
    def supports(cls, single_env) -> bool:
        """True when the single environment uses the constants this batch hard-codes."""
        u = single_env.unwrapped
        names = ("dt", "LINK_LENGTH_1", "LINK_MASS_1", "LINK_MASS_2", "LINK_COM_POS_1", "LINK_COM_POS_2",
                 "LINK_MOI", "MAX_VEL_1", "MAX_VEL_2")
        return (all(getattr(u, n, None) == getattr(cls, n) for n in names)
                and list(getattr(u, "AVAIL_TORQUE", [])) == list(cls.AVAIL_TORQUE)
                and getattr(u, "torque_noise_max", 1) == 0 and getattr(u, "book_or_nips", "") == "book"
                and type(u).__name__ == "AcrobotEnv")

    def __init__(self, num_envs: int):
        self.num_envs = num_envs
        self.state = np.zeros((4, num_envs))

    @property
    def unwrapped(self):
        return self

    def _dsdt(self, s, a):
        m1, m2 = self.LINK_MASS_1, self.LINK_MASS_2
        l1 = self.LINK_LENGTH_1
        lc1, lc2 = self.LINK_COM_POS_1, self.LINK_COM_POS_2
        I1 = I2 = self.LINK_MOI
        g = 9.8
        theta1, theta2, dtheta1, dtheta2 = s
        d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + I1 + I2
        d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + I2
        phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - pi / 2.0)
        phi1 = (
            -m2 * l1 * lc2 * dtheta2**2 * np.sin(theta2)
            - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
            + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - pi / 2)
            + phi2
        )
        ddtheta2 = (
            a + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1**2 * np.sin(theta2) - phi2
        ) / (m2 * lc2**2 + I2 - d2**2 / d1)
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return np.stack((dtheta1, dtheta2, ddtheta1, ddtheta2))

    @staticmethod
    def _wrap(x, m, M):
        diff = M - m
        while np.any(x > M):
            x = np.where(x > M, x - diff, x)
        while np.any(x < m):
            x = np.where(x < m, x + diff, x)
        return x

    def observe(self):
        s = self.state
        return np.stack((np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]), axis=1).astype(np.float32)

    def step(self, actions):
        a = self.AVAIL_TORQUE[np.asarray(actions, dtype=np.int64)]
        y0 = np.asarray(self.state, dtype=np.float64)
        dt = self.dt
        dt2 = dt / 2.0
        k1 = self._dsdt(y0, a)
        k2 = self._dsdt(y0 + dt2 * k1, a)
        k3 = self._dsdt(y0 + dt2 * k2, a)
        k4 = self._dsdt(y0 + dt * k3, a)
        ns = y0 + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        ns[0] = self._wrap(ns[0], -pi, pi)
        ns[1] = self._wrap(ns[1], -pi, pi)
        ns[2] = np.minimum(np.maximum(ns[2], -self.MAX_VEL_1), self.MAX_VEL_1)
        ns[3] = np.minimum(np.maximum(ns[3], -self.MAX_VEL_2), self.MAX_VEL_2)
        self.state = ns
        terminated = -np.cos(ns[0]) - np.cos(ns[1] + ns[0]) > 1.0
        reward = np.where(terminated, 0.0, -1.0)
        return self.observe(), reward, terminated, np.zeros_like(terminated), {}


BATCHES = {"AcrobotEnv": AcrobotBatch}


def batch_for(single_env, num_envs: int):
    """A numpy batch of ``num_envs`` copies of ``single_env``'s environment, or None when there is none."""
    cls = BATCHES.get(type(single_env.unwrapped).__name__)
    if cls is None or not cls.supports(single_env):
        return None
    return cls(num_envs)
