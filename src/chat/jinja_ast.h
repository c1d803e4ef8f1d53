// The parsed form of a template: expressions and statements, each with the
// source line it came from (for error messages).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "chat/jinja_value.h"

namespace lineage::chat::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

class Interpreter;
struct CallArgs;
using FilterFn = Value (*)(Interpreter&, const Value& operand, CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& operand, CallArgs& args);

enum class ExprKind {
  Literal,   // value
  Name,      // name
  Attr,      // kids[0].name
  Index,     // kids[0][kids[1]]
  Slice,     // kids[0][kids[1]:kids[2]:kids[3]] (null kids for omitted parts)
  Call,      // kids[0](args...)
  Filter,    // kids[0] | name(args...)
  Test,      // kids[0] is [not] name(args...)
  Neg,       // -kids[0]
  Pos,       // +kids[0]
  Not,       // not kids[0]
  Binary,    // kids[0] op kids[1]
  And,
  Or,
  Cond,      // kids[0] if kids[1] else kids[2] (kids[2] null: undefined)
  List,
  Tuple,
  Dict,      // kids = key, value, key, value, ...
};

enum class BinOp { Add, Sub, Mul, Div, FloorDiv, Mod, Pow, Concat, Eq, Ne, Lt, Le, Gt, Ge, In, NotIn };

struct Expr {
  ExprKind kind;
  int line = 0;
  std::string name;
  Value value;
  BinOp op = BinOp::Add;
  bool negate = false;                 // "is not"
  std::vector<ExprPtr> kids;           // see ExprKind; for calls, filters and tests the arguments follow the subject
  std::vector<std::string> kw_names;   // names of the trailing keyword arguments
  FilterFn filter = nullptr;
  TestFn test = nullptr;
  size_t first_arg() const { return 1; }
};

struct Param {
  std::string name;
  ExprPtr default_value;  // null: none
};

enum class StmtKind { Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, Do, Scope };

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                 // Text; Macro name; Set attribute name (ns.attr)
  ExprPtr expr;                     // Output, Set value, For iterable, Do, CallBlock call, FilterBlock filter
  ExprPtr cond;                     // For "if" filter
  std::vector<std::pair<ExprPtr, Body>> branches;  // If/elif (null condition: else)
  std::vector<std::string> targets; // For/Set names (several: tuple unpacking); Set ns.attr: the namespace name
  Body body, else_body;             // For else; SetBlock, Macro, CallBlock, FilterBlock, Scope bodies
  std::vector<Param> params;        // Macro parameters; CallBlock caller parameters
  bool uses_kwargs = false, uses_varargs = false, uses_caller = false;
};

}  // namespace lineage::chat::jinja
