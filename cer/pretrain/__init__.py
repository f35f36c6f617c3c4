"""MAE self-supervised pretraining of face backbones (papers 001/002) as a task on the shared trainer."""
