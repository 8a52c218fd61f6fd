# RTMDet-tiny-GhostNetV2 on the generated shapes dataset (COCO format, 6 classes, 320x320:
# `python tools/misc/make_shapes.py det`), short enough for a CPU. The model is the 640 config's;
# the input is 256 (the images are 320; 256 costs 0.64x as much and the shapes, then 26-170 px
# across, are still several stride-8 cells wide). The backbone starts from the shapes classifier
# of configs/mmpretrain/ghostnetv2_1.0x_shapes.py.
_base_ = './rtmdet_tiny_ghostv2_640.py'

data_root = 'data/shapes_det/'
metainfo = dict(classes=('disk', 'square', 'triangle', 'star', 'cross', 'ring'))
shapes_pretrained = 'checkpoints/ghostnetv2_1.0x_shapes.pth'

model = dict(backbone=dict(init_cfg=dict(checkpoint=shapes_pretrained)),
             bbox_head=dict(num_classes=len(metainfo['classes'])))

# Flips only: Mosaic/MixUp pay off over hundreds of epochs, not five, and YOLOX's HSV jitter
# would mix the classes, which are hue bands 30 apart (ghostv2_mm/synthetic.py).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=(256, 256), pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 256), keep_ratio=True),
    dict(type='Pad', size=(256, 256), pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# Workers are started afresh every epoch (not persistent) so that their random streams depend
# only on the seed and the epoch: a resumed run then repeats an uninterrupted one.
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='images/train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# A CPU-sized schedule: mmdet's AdamW (lr 0.004) at batch 8, a 40-iteration warm-up and cosine
# decay over 5 epochs of 80 iterations instead of 300 epochs at batch 256; validated once at the
# end. The stock pipeline switch (epoch 280) is never reached.
max_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=40),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, T_max=max_epochs,
         eta_min=4e-5, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs, dynamic_intervals=None)
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
