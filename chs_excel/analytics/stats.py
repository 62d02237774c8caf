"""Small, exact statistics the analytics share: a bounded, ridge-penalised logistic fit."""

from __future__ import annotations

import numpy as np

RIDGE = 1.0             # L2 penalty on the summed log-loss (a prior on each effect)


def fit_logistic(x: np.ndarray, y: np.ndarray, nonnegative: np.ndarray,
                 ridge: float = RIDGE, max_iter: int = 100) -> tuple[float, np.ndarray]:
    """Minimise summed log-loss + ridge/2 * |b|^2, with b >= 0 where `nonnegative`.

    Projected Newton on the coefficients not held at their bound, with a backtracking
    line search; the intercept is free and unpenalised. Deterministic.
    """
    n, k = x.shape
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    b0, beta = float(np.log(rate / (1 - rate))), np.zeros(k)

    def loss(c0: float, b: np.ndarray) -> float:
        z = c0 + x @ b
        return float(np.sum(np.logaddexp(0, z) - y * z) + ridge / 2 * b @ b)

    current = loss(b0, beta)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(b0 + x @ beta)))
        r = p - y
        g0, g = float(r.sum()), x.T @ r + ridge * beta
        free = ~nonnegative | (beta > 0) | (g < 0)
        if abs(g0) < 1e-8 * n and np.all(np.abs(g[free]) < 1e-8 * n):
            break
        w = p * (1 - p)
        xf = x[:, free]
        h = np.empty((free.sum() + 1, free.sum() + 1))
        h[0, 0] = w.sum()
        h[0, 1:] = h[1:, 0] = w @ xf
        h[1:, 1:] = (xf * w[:, None]).T @ xf + ridge * np.eye(free.sum())
        step = np.linalg.solve(h + 1e-9 * np.eye(len(h)), np.r_[g0, g[free]])
        t = 1.0
        while True:
            c0 = b0 - t * step[0]
            b = beta.copy()
            b[free] = beta[free] - t * step[1:]
            b = np.where(nonnegative, np.maximum(b, 0), b)
            new = loss(c0, b)
            if new <= current or t < 1e-10:
                break
            t /= 2
        moved = max(abs(c0 - b0), float(np.abs(b - beta).max(initial=0)))
        b0, beta, current = c0, b, min(new, current)
        if moved < 1e-9:
            break
    return b0, beta
