"""The Gaussian latent's math: KL, free bits, the importance-weighted bound, MI and active units."""

import math

import torch

from scratchformer.core.latent import (active_units, free_bits_kl, gaussian_kl, importance_weighted, log_normal,
                                       mutual_information, sample)


def test_kl_of_a_standard_normal_posterior_is_zero_and_matches_torch_elsewhere():
    mu, logvar = torch.zeros(3, 5), torch.zeros(3, 5)
    assert torch.equal(gaussian_kl(mu, logvar), torch.zeros(3, 5))
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(5), torch.ones(5))
    assert torch.allclose(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p), atol=1e-5)


def test_log_normal_matches_torch():
    z, mu, logvar = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4, 3)
    want = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    assert torch.allclose(log_normal(z, mu, logvar), want, atol=1e-5)


def test_free_bits_clamp_each_dimension_and_stop_its_gradient():
    kl = torch.tensor([[0.1, 2.0], [0.3, 4.0]], requires_grad=True)  # batch means 0.2 and 3.0
    assert math.isclose(free_bits_kl(kl, 0.0).item(), 3.2, rel_tol=1e-6)
    term = free_bits_kl(kl, 0.5)
    assert math.isclose(term.item(), 0.5 + 3.0, rel_tol=1e-6)  # the first dimension counts as 0.5
    term.backward()
    assert torch.equal(kl.grad[:, 0], torch.zeros(2))  # clamped: no push down
    assert torch.allclose(kl.grad[:, 1], torch.full((2,), 0.5))  # d mean / d entry


def test_the_importance_weighted_bound_with_one_sample_is_the_elbo_and_rises_with_k():
    # - a model where everything is Gaussian: x | z ~ N(z, 1), z ~ N(0, 1), so log p(x) = log N(x; 0, 2)
    torch.manual_seed(0)
    x = torch.tensor([0.7])
    mu, logvar = torch.tensor([[0.2]]), torch.tensor([[-0.5]])  # a deliberately imperfect posterior

    def bound(k, n=20000):
        z = sample(mu.expand(n * k, 1), logvar.expand(n * k, 1))  # (n*k, 1)
        log_px = log_normal(x.expand(n * k, 1), z, torch.zeros_like(z)).view(n, k)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z)).view(n, k)
        log_qz = log_normal(z, mu, logvar).view(n, k)
        return importance_weighted(log_px, log_pz, log_qz).mean()

    log_px_true = float(log_normal(x[None], torch.zeros(1, 1), torch.full((1, 1), math.log(2.0))))
    # - the ELBO in closed form: E_q[log p(x|z)] - KL
    var = math.exp(-0.5)
    elbo = -0.5 * (math.log(2 * math.pi) + (0.7 - 0.2) ** 2 + var) - float(gaussian_kl(mu, logvar).sum())
    assert abs(float(bound(1)) - elbo) < 0.02
    b10, b100 = float(bound(10, 4000)), float(bound(100, 400))
    assert elbo < b10 < b100 <= log_px_true + 0.01
    assert abs(b100 - log_px_true) < abs(elbo - log_px_true) / 5


def test_mutual_information_is_zero_for_identical_posteriors_and_large_for_separated_ones():
    g = torch.Generator().manual_seed(0)
    # - one z per posterior: a Monte Carlo estimate, 0 up to its noise (about 0.1 nats at N = 200)
    same = mutual_information(torch.zeros(200, 4), torch.zeros(200, 4), g)
    assert abs(same) < 0.2
    # - 200 posteriors, far apart and narrow: z tells which x, MI near its ceiling log 200
    apart = mutual_information(torch.arange(200.0)[:, None].repeat(1, 4), torch.full((200, 4), -6.0), g)
    assert abs(apart - math.log(200)) < 0.2


def test_active_units_count_dimensions_whose_mean_moves():
    mu = torch.zeros(100, 6)
    mu[:, 0] = torch.randn(100)
    mu[:, 3] = torch.randn(100) * 0.5
    mu[:, 5] = torch.randn(100) * 0.01  # varies, but below the 0.01 variance threshold
    assert active_units(mu) == 2
