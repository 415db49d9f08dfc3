"""vae-explorer: train and explore VAEs with a learnable Mixture-of-Gaussians prior."""

__version__ = "0.1.0"
APP_NAME = "VAE Explorer"
ORG_NAME = "vae-explorer"
ORG_DOMAIN = "vae-explorer.github.io"
