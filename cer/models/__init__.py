"""Models: timm ViT backbones, the masked autoencoder that pretrains them, and checkpoint loading."""

# Registers this project's timm models (vit_face_tiny) so that every timm name lookup finds them.
from cer.models import backbone as _backbone  # noqa: F401  (imported for its @register_model side effect)
