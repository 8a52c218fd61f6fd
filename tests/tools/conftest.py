import pytest


@pytest.fixture(scope='session')
def tiny_det(tmp_path_factory):
    from ghostv2_mm.synthetic import make_detection
    return make_detection(str(tmp_path_factory.mktemp('det')), num_train=16, num_val=8)
