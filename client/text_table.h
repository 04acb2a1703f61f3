#ifndef SIGIL_CLIENT_TEXT_TABLE_H_
#define SIGIL_CLIENT_TEXT_TABLE_H_

#include <string>
#include <vector>

namespace sigil::client {

// Rows of text in aligned columns, as sigilctl prints lists for people: a
// header row, then one line per row, each column as wide as its widest
// cell (counted in bytes, enough for the ASCII sigilctl prints), two
// spaces apart, the last column unpadded. An empty cell prints as "-" so
// that columns stay countable by whitespace splitting. Not thread-safe.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header);

  // Missing trailing cells print as "-"; extra cells are dropped.
  void AddRow(std::vector<std::string> row);
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // rows_[0] is the header
};

}  // namespace sigil::client

#endif  // SIGIL_CLIENT_TEXT_TABLE_H_
