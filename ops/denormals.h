// Denormal floats (below 1.2e-38 in magnitude) taken as zero, or not.
#pragma once

namespace minimax {

// Whether float results and inputs too small to be normal are taken as zero: the CPU's
// flush-to-zero and denormals-are-zero modes, as torch.set_flush_denormal. Off (IEEE's default),
// every denormal takes a slow microcode path; a DCGAN run on Fashion-MNIST, whose gradients shrink
// as D grows confident, ran 15% slower late in training for it. Sets the mode on the calling thread
// and on every OpenMP thread (threads started later inherit it from the thread that starts them).
// Returns false where the CPU has no such mode (then nothing changes). The minimax command line
// turns it on first thing in main; the library alone, the example programs and the tests keep
// IEEE's default.
bool set_flush_denormals(bool on);

}  // namespace minimax
