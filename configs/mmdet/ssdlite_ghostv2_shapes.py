# SSDLite-GhostNetV2-320 on the generated shapes dataset (COCO format, 6 classes, 320x320:
# `python tools/misc/make_shapes.py det`), short enough for a CPU. The backbone starts from the
# shapes classifier of configs/mmpretrain/ghostnetv2_1.0x_shapes.py, as the YOLOv3 shapes config.
_base_ = './ssdlite_ghostv2_320.py'

data_root = 'data/shapes_det/'
metainfo = dict(classes=('disk', 'square', 'triangle', 'star', 'cross', 'ring'))
shapes_pretrained = 'checkpoints/ghostnetv2_1.0x_shapes.pth'

# mmdet's SSDLite anchors (48-320 px at strides 16-320) already span the shapes (32-213 px).
model = dict(backbone=dict(init_cfg=dict(checkpoint=shapes_pretrained)),
             bbox_head=dict(num_classes=len(metainfo['classes'])))

# The images are already 320x320 and the objects large: flips are the augmentation. No Expand /
# MinIoURandomCrop (zoom-out for COCO's small objects: far more iterations than a CPU run) and no
# colour jitter: the classes are hue bands 30 apart (ghostv2_mm/synthetic.py), which
# PhotoMetricDistortion's hue shift (up to 18) would mix up.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(320, 320), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
# Workers are started afresh every epoch (not persistent) so that their random augmentation
# streams depend only on the seed and the epoch: a resumed run then repeats an uninterrupted one.
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(
        times=1,
        dataset=dict(data_root=data_root, metainfo=metainfo,
                     ann_file='annotations/instances_train.json',
                     data_prefix=dict(img='images/train/'), pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/val/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# A CPU-sized schedule: AdamW with a short warm-up and cosine decay instead of 600 epochs of SGD
# at batch 192: 8 epochs of 80 iterations, validated once at the end.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, T_max=8, end=8, eta_min=1e-5),
]
train_cfg = dict(max_epochs=8, val_interval=8)
auto_scale_lr = dict(base_batch_size=8)
env_cfg = dict(cudnn_benchmark=False)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=8, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
