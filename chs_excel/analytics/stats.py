"""Small, exact statistics the analytics share: a bounded, ridge-penalised logistic fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIDGE = 1.0             # L2 penalty on the summed log-loss (a prior on each effect)


@dataclass(frozen=True)
class Dense:
    """A design matrix held as it is."""

    x: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.x.shape

    def dot(self, beta: np.ndarray) -> np.ndarray:
        return self.x @ beta

    def tdot(self, r: np.ndarray) -> np.ndarray:
        return self.x.T @ r

    def gram(self, w: np.ndarray) -> np.ndarray:
        return (self.x * w[:, None]).T @ self.x


@dataclass(frozen=True)
class Levels:
    """A design whose columns are each a function of one group's level: group g's rows
    have level `codes[g]` (0..L_g) and its columns are the rows of `maps[g]` (L_g+1 by k_g)
    at those levels. Products then cost a few `bincount`s per group (or pair of groups)
    instead of dense products over every row and column."""

    codes: tuple[np.ndarray, ...]
    maps: tuple[np.ndarray, ...]

    @property
    def shape(self) -> tuple[int, int]:
        rows = len(self.codes[0]) if self.codes else 0
        return rows, sum(m.shape[1] for m in self.maps)

    def rows(self, keep: np.ndarray) -> Levels:
        """The same design over the rows `keep` selects."""
        return Levels(tuple(c[keep] for c in self.codes), self.maps)

    def dense(self) -> np.ndarray:
        """The design as a matrix (for checks)."""
        return np.hstack([m[c] for c, m in zip(self.codes, self.maps, strict=True)])

    def _split(self, beta: np.ndarray) -> list[np.ndarray]:
        return np.split(beta, np.cumsum([m.shape[1] for m in self.maps])[:-1])

    def dot(self, beta: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape[0])
        for c, m, b in zip(self.codes, self.maps, self._split(beta), strict=True):
            out += (m @ b)[c]
        return out

    def tdot(self, r: np.ndarray) -> np.ndarray:
        return np.concatenate([m.T @ np.bincount(c, r, len(m))
                               for c, m in zip(self.codes, self.maps, strict=True)])

    def gram(self, w: np.ndarray) -> np.ndarray:
        sizes = [m.shape[1] for m in self.maps]
        at = np.r_[0, np.cumsum(sizes)]
        out = np.empty((at[-1], at[-1]))
        for g, (cg, mg) in enumerate(zip(self.codes, self.maps, strict=True)):
            out[at[g]:at[g + 1], at[g]:at[g + 1]] = (
                mg.T * np.bincount(cg, w, len(mg))) @ mg
            for h in range(g + 1, len(self.maps)):
                mh = self.maps[h]
                joint = np.bincount(cg * len(mh) + self.codes[h], w, len(mg) * len(mh))
                block = mg.T @ joint.reshape(len(mg), len(mh)) @ mh
                out[at[g]:at[g + 1], at[h]:at[h + 1]] = block
                out[at[h]:at[h + 1], at[g]:at[g + 1]] = block.T
        return out


def fit_logistic(x: np.ndarray | Dense | Levels, y: np.ndarray, nonnegative: np.ndarray,
                 ridge: float = RIDGE, max_iter: int = 100) -> tuple[float, np.ndarray]:
    """Minimise summed log-loss + ridge/2 * |b|^2, with b >= 0 where `nonnegative`.

    Projected Newton on the coefficients not held at their bound, with a backtracking
    line search; the intercept is free and unpenalised. Deterministic. `x` is a matrix
    or a `Levels` design (the same fit, far fewer operations).
    """
    x = Dense(x) if isinstance(x, np.ndarray) else x
    n, k = x.shape
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    b0, beta = float(np.log(rate / (1 - rate))), np.zeros(k)

    def loss(c0: float, b: np.ndarray) -> float:
        z = c0 + x.dot(b)
        return float(np.sum(np.logaddexp(0, z) - y * z) + ridge / 2 * b @ b)

    current = loss(b0, beta)
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(b0 + x.dot(beta))))
        r = p - y
        g0, g = float(r.sum()), x.tdot(r) + ridge * beta
        free = ~nonnegative | (beta > 0) | (g < 0)
        if abs(g0) < 1e-8 * n and np.all(np.abs(g[free]) < 1e-8 * n):
            break
        w = p * (1 - p)
        h = np.empty((free.sum() + 1, free.sum() + 1))
        h[0, 0] = w.sum()
        h[0, 1:] = h[1:, 0] = x.tdot(w)[free]
        h[1:, 1:] = x.gram(w)[np.ix_(free, free)] + ridge * np.eye(free.sum())
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
