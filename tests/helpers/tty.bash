# Reading a pseudo-terminal's screen, for the tests of the live status
# (progress.bats, poll-progress.bats): script(1) runs a command on a
# terminal of its own and what the terminal was sent lands in tty.out.
# shellcheck shell=bash

# shellcheck disable=SC2034  # for the tests that load this
ESC=$'\033' CR=$'\r'

# on_tty CMD: CMD run with stdin, stdout and stderr a pseudo-terminal;
# what the terminal got in tty.out.
on_tty() {
	script -qec "$1" /dev/null >tty.out
}

# count STRING: how many times STRING is in tty.out.
count() {
	grep -aoF -- "$1" tty.out | wc -l
}

# ups: the lines the cursor was moved up over, in all.
ups() {
	grep -aoE "${ESC}\[[0-9]+A" tty.out | tr -dc '0-9\n' |
	    awk '{ n += $1 } END { print n + 0 }'
}

# newlines: the lines ended on the terminal.
newlines() {
	tr -cd '\n' <tty.out | wc -c
}

# hex: stdin's bytes in hex, on one line.
hex() {
	od -An -tx1 | tr -d ' \n'
}
