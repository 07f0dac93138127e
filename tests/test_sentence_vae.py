"""The sentence VAE: its decoder starts as the base, z reaches it each way, the loss is the ELBO,
only adapters and projections train, generation with a cache equals recomputation, bad settings."""

import pytest
import torch

from scratchformer.core.latent import gaussian_kl
from scratchformer.core.tuning import trainable_share
from scratchformer.errors import UserError
from scratchformer.models.gpt import GPT, GPTConfig
from scratchformer.models.sentence_vae import SentenceVAE, SentenceVAEConfig

torch.set_num_threads(1)


def base(position="learned"):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=30, d_model=32, n_heads=4, n_layers=2, context_len=16, position=position)).eval()


def sentences():
    inputs = torch.tensor([[2, 5, 6, 7, 0], [2, 8, 9, 0, 0]])  # bos = 2, pad = 0
    targets = torch.tensor([[5, 6, 7, 2, -100], [8, 9, 2, -100, -100]])
    return inputs, targets


@pytest.mark.parametrize("inject", ["none", "embedding"])
def test_zero_initialised_adapters_leave_the_base_decoder_unchanged(inject):
    gpt = base()
    inputs, _ = sentences()
    want, _ = gpt(inputs)
    vae = SentenceVAE(gpt, SentenceVAEConfig(latent_size=8, inject=inject, width=4)).eval()
    z = torch.randn(2, 8) if inject != "none" else None
    assert torch.allclose(vae.decoder_logits(inputs, z), want, atol=1e-6)


@pytest.mark.parametrize("inject", ["prefix", "embedding", "both"])
def test_z_reaches_the_decoder(inject):
    vae = SentenceVAE(base(), SentenceVAEConfig(latent_size=8, inject=inject, width=4)).eval()
    if vae.config.uses_embedding:
        torch.nn.init.normal_(vae.to_embedding.weight)  # (zero at first: then z changes nothing)
    inputs, _ = sentences()
    a, b = vae.decoder_logits(inputs, torch.randn(2, 8)), vae.decoder_logits(inputs, torch.randn(2, 8))
    assert not torch.allclose(a, b, atol=1e-4)


def test_the_posterior_is_a_linear_map_of_the_encoder_states_averaged_over_the_sentence_alone():
    vae = SentenceVAE(base(), SentenceVAEConfig(latent_size=8, inject="both", width=4)).eval()
    inputs, targets = sentences()
    pooled = vae.pool(inputs, targets)  # (2, C)
    # - the second sentence alone, without its padding, pools to the same vector
    alone = vae.pool(inputs[1:, :3], targets[1:, :3])
    assert pooled.shape == (2, 32) and torch.allclose(pooled[1:], alone, atol=1e-6)
    mu, logvar = vae.encode(inputs, targets)
    assert torch.allclose(torch.cat([mu, logvar], dim=-1), vae.to_latent(pooled), atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(vae.posterior(pooled), (mu, logvar)))


def test_the_base_is_shared_and_frozen_and_the_share_trained_is_small():
    gpt = base()
    vae = SentenceVAE(gpt, SentenceVAEConfig(latent_size=8, inject="both", width=4))
    assert vae.encoder.tok_emb.weight is gpt.tok_emb.weight is vae.decoder.tok_emb.weight  # not copied
    trained, total = trainable_share(vae)
    assert total < gpt.num_params() * 1.5  # the base counted once
    assert not any(p.requires_grad for p in gpt.parameters())
    names = {n.split(".")[0] for n, p in vae.named_parameters() if p.requires_grad}
    assert names == {"encoder", "decoder", "to_latent", "to_prefix", "to_embedding"}
    assert all("adapter" in n for n, p in vae.named_parameters() if p.requires_grad and n.startswith(("encoder", "decoder")))


def test_validation_loss_is_the_negative_elbo_per_token():
    vae = SentenceVAE(base(), SentenceVAEConfig(latent_size=8, inject="both", width=4)).eval()
    inputs, targets = sentences()
    torch.manual_seed(1)
    _, loss = vae(inputs, targets)
    # - the same with the pieces: one z per sentence, drawn from the same generator state
    torch.manual_seed(1)
    mu, logvar = vae.encode(inputs, targets)
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape)
    neg_elbo = vae.reconstruction_nll(inputs, targets, z).sum() + gaussian_kl(mu, logvar).sum()
    assert torch.allclose(loss, neg_elbo / 7, atol=1e-5)  # 7 target tokens
    # - with beta 0 the KL is gone: an autoencoder's loss
    torch.manual_seed(1)
    _, ae = vae(inputs, targets, torch.tensor(0.0))
    assert torch.allclose(ae, vae.reconstruction_nll(inputs, targets, z).sum() / 7, atol=1e-5)


def test_the_plain_lm_variant_is_the_decoders_cross_entropy():
    gpt = base()
    inputs, targets = sentences()
    _, want = gpt(inputs, targets)
    _, loss = SentenceVAE(gpt, SentenceVAEConfig(inject="none", width=4)).eval()(inputs, targets)
    assert torch.allclose(loss, want, atol=1e-6)


@pytest.mark.parametrize("inject", ["prefix", "both"])
def test_as_an_autoencoder_the_adapters_learn_to_read_z(inject):
    # - 8 random sentences of 8 words: without z no model can know which one comes (the plain LM's
    #   floor is ln 8 / 9 = 0.23 nats a token, and its adapters stay far above it); with beta = 0 the
    #   adapters and projections alone must learn to write each sentence into z and read it back
    gpt = base()
    with torch.no_grad():
        gpt.lm_head.weight.mul_(30)  # a random head of std 0.02 bounds every logit near +-0.6 (a trained one does not)
    words = torch.randint(3, 30, (8, 8), generator=torch.Generator().manual_seed(1))
    inputs = torch.cat([torch.full((8, 1), 2), words], dim=1)  # (8, 9): bos, the words
    targets = torch.cat([words, torch.full((8, 1), 2)], dim=1)  # (8, 9): the words, eos

    def trained(way_in: str) -> float:
        torch.manual_seed(0)
        vae = SentenceVAE(gpt, SentenceVAEConfig(latent_size=8, inject=way_in, width=8))
        opt = torch.optim.Adam([p for p in vae.parameters() if p.requires_grad], lr=1e-2)
        for _ in range(300):
            _, loss = vae(inputs, targets, torch.tensor(0.0))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return loss.item()

    plain, autoencoder = trained("none"), trained(inject)
    assert plain > 2.5 and autoencoder < plain - 0.75  # nats a token, after 300 steps


@pytest.mark.parametrize("inject", ["prefix", "both"])
def test_greedy_generation_with_the_cache_equals_recomputation(inject):
    vae = SentenceVAE(base("rope"), SentenceVAEConfig(latent_size=8, inject=inject, prefix_len=2, width=4)).eval()
    torch.nn.init.normal_(vae.to_prefix.weight)
    z = torch.randn(3, 8)
    got = vae.generate(z, bos_id=2, eos_id=29, max_len=6)
    # - recomputed: the whole sentence so far through the decoder at each step
    idx = torch.full((3, 1), 2)
    for _ in range(6):
        idx = torch.cat([idx, vae.decoder_logits(idx, z)[:, -1:].argmax(-1)], dim=1)
    want = [[t for t in row[1:]] for row in idx.tolist()]
    assert got == [w[:w.index(29)] if 29 in w else w for w in want]


def test_bad_settings_get_one_sentence():
    with pytest.raises(ValueError, match="latent size must be at least 1, got 0"):
        SentenceVAEConfig(latent_size=0)
    with pytest.raises(ValueError, match="unknown injection"):
        SentenceVAEConfig(inject="cross")
    with pytest.raises(UserError, match="a prefix of 16 leaves no room"):
        SentenceVAE(base(), SentenceVAEConfig(prefix_len=16, inject="prefix"))
    with pytest.raises(UserError, match="no encoder"):
        SentenceVAE(base(), SentenceVAEConfig(inject="none")).encode(*sentences())
