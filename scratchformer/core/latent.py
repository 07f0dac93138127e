"""A diagonal Gaussian latent: sampling, KL, free bits, and the numbers that tell whether it is used.

Legend: B batch, Z latent size, K importance samples.

A VAE (Kingma & Welling 2014) encodes x to q(z|x) = N(mu, diag(exp(logvar))) and decodes x from a
sample of it; the prior is p(z) = N(0, I). The pieces here are torch only and know nothing of text:

  sample                  z = mu + exp(logvar / 2) * eps: the reparametrisation trick
  gaussian_kl             KL(q(z|x) || p(z)) per dimension, in closed form
  free_bits_kl            Kingma et al. (2016) as Optimus uses it (Li et al. 2020): each dimension's
                          KL, averaged over the batch, counts as at least `free_bits` nats, so the
                          loss stops pushing a dimension below that and the decoder keeps a reason
                          to read z (one answer to posterior collapse)
  log_normal              log N(z; mu, diag(exp(logvar))), summed over dimensions
  importance_weighted     log p(x) >= log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x) (Burda et al. 2016);
                          K = 1 is the ELBO, and the bound tightens as K grows
  mutual_information      I(x; z) under q, estimated as in He et al. (2019, "Lagging inference networks")
  active_units            dimensions whose posterior mean moves with x: Cov_x(E_q[z_d]) > 0.01
                          (Burda et al. 2016)
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def sample(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One z per row of mu, logvar (..., Z); gradients flow into mu and logvar."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension: (B, Z) -> (B, Z), in nats.

    0.5 (mu^2 + sigma^2 - 1 - log sigma^2): zero exactly when mu = 0 and sigma = 1.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def free_bits_kl(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term per sentence under free bits: sum_d max(free_bits, mean over the batch of kl[:, d]).

    kl: (B, Z) from gaussian_kl. With free_bits = 0 this is the plain mean KL per sentence. A clamped
    dimension adds a constant: no gradient reaches it.
    """
    per_dim = kl.mean(dim=0)  # (Z,)
    return torch.clamp(per_dim, min=free_bits).sum()


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension: (..., Z) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(dim=-1)


def importance_weighted(log_px_given_z: torch.Tensor, log_pz: torch.Tensor, log_qz: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k exp(log p(x|z_k) + log p(z_k) - log q(z_k|x)): (B, K) each -> (B,).

    A lower bound on log p(x) for every K; in expectation it equals the ELBO at K = 1 and rises
    towards log p(x) as K grows.
    """
    K = log_px_given_z.size(-1)
    return torch.logsumexp(log_px_given_z + log_pz - log_qz, dim=-1) - math.log(K)


@torch.no_grad()
def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                       chunk: int = 512) -> float:
    """I(x; z) = E_x E_q(z|x) [log q(z|x) - log q(z)], with q(z) the mixture of the N posteriors given.

    mu, logvar: (N, Z), one posterior per sentence. One z is drawn from each; log q(z) averages
    the density of that z under all N posteriors (He et al. 2019 do this within a batch; here over
    all N, in chunks). Bounded above by log N.
    """
    N, Z = mu.shape
    # - E[log q(z|x)] is minus the entropy of a Gaussian: closed form
    neg_entropy = (-0.5 * Z * LOG_2PI - 0.5 * (1 + logvar).sum(dim=-1)).mean()
    z = sample(mu, logvar, generator)  # (N, Z)
    log_qz = []
    for start in range(0, N, chunk):
        zc = z[start:start + chunk, None, :]  # (n, 1, Z) against all N posteriors (1, N, Z)
        log_density = log_normal(zc, mu[None], logvar[None])  # (n, N)
        log_qz.append(torch.logsumexp(log_density, dim=1) - math.log(N))  # (n,)
    return float(neg_entropy - torch.cat(log_qz).mean())


@torch.no_grad()
def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """How many of the Z dimensions have a posterior mean that varies over the sentences: mu (N, Z)."""
    return int((mu.var(dim=0, unbiased=True) > threshold).sum())
