from torch import nn

from irlas_darts.evaluation import NetworkCIFAR, count_flops, count_params, measure_latency
from irlas_darts.spaces import published_genotype


def small_convnet(groups: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False),  # 10x10 -> 5x5
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=groups, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


def test_flops_are_multiply_adds_of_convs_and_linears():
    for groups in (1, 8):
        conv1 = 4 * 8 * 3 * 3 * 5 * 5
        conv2 = (8 // groups) * 8 * 3 * 3 * 5 * 5
        linear = 8 * 3
        assert count_flops(small_convnet(groups), (4, 10, 10)) == conv1 + conv2 + linear


def test_count_flops_leaves_the_mode_alone_and_skips_the_auxiliary_head():
    g = published_genotype("DARTS_V2")
    with_aux = NetworkCIFAR(g, C=4, layers=5, auxiliary=True).train()
    without = NetworkCIFAR(g, C=4, layers=5, auxiliary=False)
    assert count_flops(with_aux, (3, 16, 16)) == count_flops(without, (3, 16, 16)) > 0
    assert with_aux.training


def test_count_params_splits_off_the_auxiliary_head():
    model = nn.Module()
    model.body = nn.Linear(3, 4)  # 16
    model.auxiliary_head = nn.Linear(4, 2)  # 10
    assert count_params(model) == (16, 10)
    net = NetworkCIFAR(published_genotype("DARTS_V2"), C=4, layers=5, auxiliary=True)
    main, aux = count_params(net)
    assert main + aux == sum(p.numel() for p in net.parameters())
    assert aux == sum(p.numel() for p in net.auxiliary_head.parameters())
    assert count_params(NetworkCIFAR(published_genotype("DARTS_V2"), C=4, layers=5, auxiliary=False)) == (main, 0)


def test_measure_latency_reports_each_batch_size():
    model = small_convnet().train()
    result = measure_latency(model, (4, 10, 10), batch_sizes=(1, 3), device="cpu", min_run_time=0.01)
    assert set(result) == {"batch_1", "batch_3"}
    assert all(v > 0 for v in result.values())
    assert model.training
