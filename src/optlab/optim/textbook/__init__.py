"""Textbook optimizers: SGD (plain, momentum, Nesterov), Adagrad, RMSprop, Adam, AdamW and Lion written from their
update equations, one short file each, for reading next to the lectures. Each matches its library counterpart
(torch.optim, lion-pytorch) to 1e-6 over 100 steps (tests/test_textbook.py); use them with
`optimizer=textbook/<name>`."""
