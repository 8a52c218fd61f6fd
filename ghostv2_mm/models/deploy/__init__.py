"""The inference structure of GhostNetV2: BN folded into the convs, each DFC attention a module
of plain convs (:class:`DeployDFCAttention`). Built by ``GhostNetV2(deploy=True)`` or converted
from a trained model by ``switch_to_deploy()`` / :func:`reparameterize`. What a runtime needs on
top of it is an export transform of the deploy layer (``ghostv2_mm.deploy.transforms``)."""
from .reparam import DeployDFCAttention, replace_modules, reparameterize

__all__ = ['DeployDFCAttention', 'replace_modules', 'reparameterize']
