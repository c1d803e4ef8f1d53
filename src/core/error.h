// One error type for the whole library. Library code throws lineage::Error
// with a message that names the thing that went wrong (file, tensor, key,
// byte offset); only the CLI turns it into a printed line and an exit code.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace lineage {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// fail("tensor ", name, " has ", n, " dims") builds the message from parts.
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  throw Error(os.str());
}

}  // namespace lineage
