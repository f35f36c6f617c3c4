"""The convolutional stem of the compact default ViT, and MAE masking through it."""

import pytest
import torch

from cer.models.backbone import create_backbone
from cer.models.conv_stem import ConvStemPatchEmbed
from cer.models.mae import MaskedAutoencoderViT

TINY = dict(depth=1, embed_dim=32, num_heads=2)


def test_default_backbone_has_a_stride_16_stem_giving_36_tokens_at_96_px():
    model = create_backbone("vit_face_tiny", 96, 6)
    embed = model.patch_embed
    assert isinstance(embed, ConvStemPatchEmbed)
    assert embed.patch_size == (16, 16) and embed.grid_size == (6, 6)
    convs = [m for m in embed.stem if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [24, 48, 96, 192]
    assert embed(torch.zeros(2, 3, 96, 96)).shape == (2, 36, 192)
    assert model(torch.zeros(2, 3, 96, 96)).shape == (2, 6)


@pytest.mark.parametrize("patch", [6, 1, 12])
def test_a_patch_size_that_is_not_a_power_of_two_is_refused(patch):
    with pytest.raises(ValueError, match="power-of-two"):
        ConvStemPatchEmbed(img_size=48, patch_size=patch, embed_dim=32)


def test_a_wrong_input_size_names_both_sizes():
    embed = ConvStemPatchEmbed(img_size=32, patch_size=8, embed_dim=32)
    with pytest.raises(ValueError, match="48x48.*32x32"):
        embed(torch.zeros(1, 3, 48, 48))


def test_masked_pixels_cannot_leak_into_the_visible_tokens():
    torch.manual_seed(0)
    mae = MaskedAutoencoderViT("vit_face_tiny", 32, decoder_embed_dim=16, decoder_depth=1,
                               decoder_num_heads=2, patch_size=8, **TINY).eval()
    imgs = torch.randn(2, 3, 32, 32)
    latent, mask, _ = mae.forward_encoder(imgs, 0.75, torch.Generator().manual_seed(1))
    assert mask.sum(dim=1).tolist() == [12.0, 12.0]
    # Change only the masked patches: the encoder output must not move at all.
    noise = mae.unpatchify(mask.unsqueeze(-1).expand(-1, -1, 8 * 8 * 3) * torch.randn(2, 16, 8 * 8 * 3))
    latent_changed, mask_again, _ = mae.forward_encoder(imgs + 5 * noise, 0.75, torch.Generator().manual_seed(1))
    assert torch.equal(mask, mask_again)
    assert torch.allclose(latent, latent_changed, atol=1e-6)
    # ...whereas changing a visible patch does move it (the check above can fail).
    visible = mae.unpatchify((1 - mask).unsqueeze(-1).expand(-1, -1, 8 * 8 * 3) * torch.randn(2, 16, 8 * 8 * 3))
    latent_visible, _, _ = mae.forward_encoder(imgs + 5 * visible, 0.75, torch.Generator().manual_seed(1))
    assert not torch.allclose(latent, latent_visible, atol=1e-3)
