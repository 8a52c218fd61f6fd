# The inference structure of ../deeplabv3_ghostv2_ade20k_512.py (BN folded, DFC attention as plain
# convs), which loads the deploy checkpoints of tools/model_converters/reparameterize_model.py:
#   python tools/test.py configs/mmseg/deploy/deeplabv3_ghostv2_ade20k_512_deploy.py DEPLOY_CKPT
_base_ = '../deeplabv3_ghostv2_ade20k_512.py'

model = dict(backbone=dict(deploy=True, init_cfg=None))
