"""The per-epoch log line is short; the genotype is logged when it changes and in full at the end."""

from irlas_darts.app.search_app import epoch_line, genotype_change

GENOTYPE = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1)], ...)" * 8  # about 600 characters
ROW = {"epoch": 3, "train_loss": 1.23456, "val_loss": 1.5, "train_acc": 0.5, "val_acc": 0.4, "lr": 0.025,
       "arch_loss": 1.4, "reg_loss": 0.0, "F": 0.1, "t": 2.0, "margin": 2.0, "distance_to_expert": 3.25,
       "w": [0.1] * 30, "genotype": GENOTYPE, "seconds": 12.34}


def test_epoch_line_is_short_and_has_the_numbers():
    line = epoch_line(ROW, 6)
    assert GENOTYPE[:20] not in line and len(line) < 160
    for part in ("epoch 3/6", "loss 1.235 val 1.500", "acc 0.500 val 0.400", "lr 0.0250", "margin 2.000",
                 "distance 3.250", "12.3s"):
        assert part in line, (part, line)


def test_epoch_line_shows_the_parameter_free_counts_when_rows_have_them():
    assert "param_free" not in epoch_line(ROW, 6)
    line = epoch_line({**ROW, "param_free_normal": 3, "param_free_reduce": 5}, 6)
    assert "param_free normal 3" in line and "param_free reduce 5" in line


def test_genotype_is_logged_when_it_changes():
    a, b = dict(ROW, epoch=1, genotype="A"), dict(ROW, epoch=2, genotype="B")
    assert genotype_change([a]) == "epoch 1: genotype is A"
    assert genotype_change([a, dict(a, epoch=2)]) is None
    assert genotype_change([a, b]) == "epoch 2: genotype changed to B"


def test_epoch_line_shows_the_benchmark_accuracy_of_nb201_rows():
    assert "bench" not in epoch_line(ROW, 6)
    assert "bench 89.41" in epoch_line({**ROW, "benchmark_acc": 89.4134}, 6)
