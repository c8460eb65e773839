#include <cstdio>

int main() {
  std::puts("minimax");
}
