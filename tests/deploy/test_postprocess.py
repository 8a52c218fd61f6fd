"""The deployed detector's post-processing, on small graphs built here: the YOLOv3 head's
post-processing alone, exported through the package's rewriter (ghostv2_mm.deploy.rewriters) on
prediction maps given as the graph's inputs, keeps mmdet's objectness filter (``conf_thr``); and
:class:`~ghostv2_mm.deploy.infer.Deployment` drops the rows (score 0) that graph pads its
outputs with."""
import copy
import json

import numpy as np
import pytest
import torch

DET = 'configs/mmdet/yolov3_ghostv2_320_shapes.py'
DEPLOY_CFG = 'configs/mmdeploy/detection_onnxruntime_static-320x320.py'
# Far above the recipe's 0.005, so that half of the candidate boxes lie between 0 and it.
CONF_THR = 0.5
INPUT = 64  # prediction maps of 2x2, 4x4 and 8x8 (strides 32, 16, 8)


class PredictByFeat(torch.nn.Module):
    """The head's ``predict_by_feat`` as a module of its three prediction maps."""

    def __init__(self, head):
        super().__init__()
        self.head = head

    def forward(self, *pred_maps):
        return self.head.predict_by_feat(list(pred_maps), [dict(img_shape=(INPUT, INPUT))])


def prediction_maps(head, generator):
    """Prediction maps whose boxes have objectness either in [0.88, 0.95] or in [0.05, 0.45]
    (below CONF_THR) and one class of score 1 each (the others below ``score_thr``), so that a
    box's score is its objectness."""
    maps = []
    for stride in head.featmap_strides:
        size = INPUT // stride
        shape = (1, head.num_base_priors, 1, size, size)
        boxes = torch.randn(1, head.num_base_priors, 4, size, size, generator=generator)
        boxes[:, :, 2:] *= 0.3  # sizes near the anchors'
        high = torch.empty(shape).uniform_(0.88, 0.95, generator=generator)
        low = torch.empty(shape).uniform_(0.05, 0.45, generator=generator)
        objectness = torch.where(torch.rand(shape, generator=generator) < 0.5, high, low)
        classes = torch.full((1, head.num_base_priors, head.num_classes, size, size), -6.)
        label = torch.randint(head.num_classes, shape, generator=generator)
        classes.scatter_(2, label, 20.)  # sigmoid(20) is 1 in float32
        pred = torch.cat([boxes, torch.logit(objectness), classes], dim=2)
        maps.append(pred.reshape(1, head.num_base_priors * head.num_attrib, size, size))
    return maps


@pytest.fixture(scope='module')
def yolov3(tmp_path_factory):
    """The YOLOv3-GhostNetV2 shapes head with ``conf_thr=CONF_THR`` in its test_cfg and the
    deploy config's post-processing; its prediction maps; the exported graph's (dets, labels)
    from ONNX Runtime."""
    import mmdet.models  # noqa: F401  registers the heads
    import onnxruntime as ort
    from mmdeploy.apis.onnx import export
    from mmdet.registry import MODELS
    from mmengine.config import Config

    from ghostv2_mm.deploy.backends import register
    register()
    cfg = Config.fromfile(DET)
    test_cfg = copy.deepcopy(cfg.model.test_cfg)
    test_cfg.conf_thr = CONF_THR
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):  # other tests may leave another scope
        head = MODELS.build(dict(cfg.model.bbox_head, test_cfg=test_cfg)).eval()
    deploy_cfg = Config.fromfile(DEPLOY_CFG)
    post = deploy_cfg.codebase_config.post_processing
    post.confidence_threshold = CONF_THR
    # The rest of the graph's post-processing is the test_cfg's (tests/deploy/test_configs.py).
    assert (post.score_threshold, post.iou_threshold, post.pre_top_k, post.keep_top_k) == \
        (test_cfg.score_thr, test_cfg.nms.iou_threshold, test_cfg.nms_pre, test_cfg.max_per_img)

    maps = prediction_maps(head, torch.Generator().manual_seed(0))
    names = [f'pred_map{i}' for i in range(len(maps))]
    prefix = str(tmp_path_factory.mktemp('yolov3_head') / 'head')
    export(PredictByFeat(head), tuple(maps), prefix, backend='onnxruntime',
           input_names=names, output_names=['dets', 'labels'], opset_version=11,
           context_info=dict(deploy_cfg=deploy_cfg))
    session = ort.InferenceSession(prefix + '.onnx', providers=['CPUExecutionProvider'])
    dets, labels = session.run(None, {n: m.numpy() for n, m in zip(names, maps)})
    return head, test_cfg, maps, dets[0], labels[0]


def pytorch_predict(head, maps, test_cfg, scale_factor=(1., 1.)):
    """mmdet's ``YOLOV3Head.predict_by_feat`` (eager, no rewriter) with ``test_cfg``, boxes
    divided by ``scale_factor`` (w, h); sorted by score."""
    meta = dict(img_shape=(INPUT, INPUT), scale_factor=scale_factor)
    with torch.no_grad():
        result = head.predict_by_feat([m.clone() for m in maps], [meta], cfg=test_cfg,
                                      rescale=True)[0]
    order = result.scores.argsort(descending=True)
    return (result.bboxes[order].numpy(), result.scores[order].numpy(),
            result.labels[order].numpy())


def graph_boxes(dets):
    """The graph's rows of positive score (its boxes; the others are padding)."""
    return dets[dets[:, 4] > 0]


def test_deployed_yolov3_returns_no_box_whose_objectness_is_below_conf_thr(yolov3):
    head, test_cfg, maps, dets, _ = yolov3
    # The premise: without the filter, boxes of objectness below CONF_THR would be detections.
    recipe_cfg = copy.deepcopy(test_cfg)
    recipe_cfg.conf_thr = 0.005
    unfiltered = pytorch_predict(head, maps, recipe_cfg)[1]
    assert ((unfiltered > 0.05) & (unfiltered < CONF_THR)).sum() > 10
    # Class scores are 1: a box's score is its objectness.
    scores = graph_boxes(dets)[:, 4]
    assert len(scores) > 0
    assert scores.min() >= CONF_THR, \
        f'{(scores < CONF_THR).sum()} boxes of objectness below conf_thr {CONF_THR}'


def test_deployed_yolov3_returns_pytorch_boxes_at_conf_thr(yolov3):
    head, test_cfg, maps, dets, labels = yolov3
    boxes, scores, expected_labels = pytorch_predict(head, maps, test_cfg)
    kept = dets[:, 4] > 0
    assert kept.sum() == len(scores) > 0, \
        f'the graph returns {kept.sum()} boxes, PyTorch {len(scores)} at conf_thr {CONF_THR}'
    np.testing.assert_allclose(dets[kept, :4], boxes, atol=1e-3)
    np.testing.assert_allclose(dets[kept, 4], scores, atol=1e-5)
    np.testing.assert_array_equal(labels[kept], expected_labels)


def test_yolov3_graph_without_nms_and_numpy_post_processing_return_pytorch_boxes(
        yolov3, tmp_path):
    """ncnn's YOLOv3 graph ends at every box, its class scores and objectness
    (``post_processing.in_graph=False``); ghostv2_mm.deploy.postprocess applies the objectness
    filter, the top-k, the class-wise NMS and max_per_img in numpy as mmdet does."""
    import onnx
    import onnxruntime as ort
    from mmdeploy.apis.onnx import export
    from mmengine.config import Config

    from ghostv2_mm.deploy.postprocess import detections
    from ghostv2_mm.deploy.rewriters import postprocess_spec
    head, test_cfg, maps, _, _ = yolov3
    deploy_cfg = Config.fromfile(DEPLOY_CFG.replace('onnxruntime', 'ncnn'))
    deploy_cfg.codebase_config.post_processing.confidence_threshold = CONF_THR
    names = [f'pred_map{i}' for i in range(len(maps))]
    outputs = list(deploy_cfg.onnx_config.output_names)
    export(PredictByFeat(head), tuple(maps), str(tmp_path / 'head'), backend='onnxruntime',
           input_names=names, output_names=outputs, opset_version=11,
           context_info=dict(deploy_cfg=deploy_cfg))
    graph = onnx.load(str(tmp_path / 'head.onnx')).graph
    assert not {'NonMaxSuppression', 'TopK'} & {node.op_type for node in graph.node}
    session = ort.InferenceSession(str(tmp_path / 'head.onnx'),
                                   providers=['CPUExecutionProvider'])
    spec = postprocess_spec(head, maps, (INPUT, INPUT), deploy_cfg)
    found = detections(dict(zip(outputs, session.run(None, {
        n: m.numpy() for n, m in zip(names, maps)}))), spec)
    dets, labels = found['dets'][0], found['labels'][0]
    boxes, scores, expected_labels = pytorch_predict(head, maps, test_cfg)
    kept = dets[:, 4] > 0
    assert kept.sum() == len(scores) > 0, \
        f'{kept.sum()} boxes after the numpy post-processing, PyTorch {len(scores)}'
    assert (labels[~kept] == -1).all() and not dets[~kept].any()
    np.testing.assert_allclose(dets[kept, :4], boxes, atol=1e-3)
    np.testing.assert_allclose(dets[kept, 4], scores, atol=1e-5)
    np.testing.assert_array_equal(labels[kept], expected_labels)


def constant_detector(path, dets, labels):
    """An ONNX model of input (1, 3, INPUT, INPUT) whose outputs are ``dets`` and ``labels``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node('Constant', [], [name], value=numpy_helper.from_array(value))
             for name, value in (('dets', dets), ('labels', labels))]
    graph = helper.make_graph(
        nodes, 'constant_detector',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, INPUT, INPUT])],
        [helper.make_tensor_value_info('dets', TensorProto.FLOAT, list(dets.shape)),
         helper.make_tensor_value_info('labels', TensorProto.INT64, list(labels.shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def test_padding_rows_are_not_results(yolov3, tmp_path):
    """``Deployment`` on a work dir whose detector outputs the YOLOv3 graph's (dets, labels),
    padding included, returns PyTorch's boxes in the image's pixels and nothing else."""
    from ghostv2_mm.deploy.infer import Deployment
    head, test_cfg, maps, dets, labels = yolov3
    padding = dets[:, 4] <= 0
    # mmdeploy appends a zero row (box and score 0) to the NMS output before its top-k.
    assert padding.sum() > 0 and not dets[padding].any()
    # And, in a batch, zeroes the rows of the other images (label -1).
    extra = np.zeros((3, 5), np.float32)
    constant_detector(tmp_path / 'end2end.onnx', np.concatenate([dets, extra])[None],
                      np.concatenate([labels, [-1, -1, -1]]).astype(np.int64)[None])
    info = dict(task='Detector', models=[dict(net='end2end.onnx', backend='onnxruntime',
                                              precision='FP32')])
    transforms = [dict(type='LoadImageFromFile'),
                  dict(type='Resize', keep_ratio=False, size=[INPUT, INPUT]),
                  dict(type='Normalize', mean=[0, 0, 0], std=[1, 1, 1], to_rgb=True),
                  dict(type='PackDetInputs')]
    pipeline = dict(pipeline=dict(tasks=[dict(name='Preprocess', transforms=transforms)]))
    (tmp_path / 'deploy.json').write_text(json.dumps(info))
    (tmp_path / 'pipeline.json').write_text(json.dumps(pipeline))

    image = np.zeros((3 * INPUT // 2, 2 * INPUT, 3), np.uint8)  # scale factor (w, h) (1/2, 2/3)
    result = Deployment(str(tmp_path), threads=1)(image)
    boxes, scores, labels = pytorch_predict(head, maps, test_cfg, scale_factor=(1 / 2, 2 / 3))
    assert len(result['scores']) == len(scores), \
        f'{len(result["scores"])} results for {len(scores)} boxes: padding rows kept'
    np.testing.assert_allclose(result['bboxes'], boxes, atol=1e-3)
    np.testing.assert_allclose(result['scores'], scores, atol=1e-5)
    np.testing.assert_array_equal(result['labels'], labels)
