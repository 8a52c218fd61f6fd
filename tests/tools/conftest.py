import pytest


@pytest.fixture(scope='session')
def tiny_det(tmp_path_factory):
    from ghostv2_mm.synthetic import make_detection
    return make_detection(str(tmp_path_factory.mktemp('det')), num_train=16, num_val=8)


@pytest.fixture(scope='session')
def tiny_seg(tmp_path_factory):
    from ghostv2_mm.synthetic import make_segmentation
    return make_segmentation(str(tmp_path_factory.mktemp('seg')), num_train=16, num_val=4)


@pytest.fixture(scope='session')
def tiny_cls(tmp_path_factory):
    from ghostv2_mm.synthetic import make_classification
    return make_classification(str(tmp_path_factory.mktemp('cls')), num_train=8, num_val=4)
