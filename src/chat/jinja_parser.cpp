#include "chat/jinja_parser.h"

#include <charconv>
#include <cstdlib>
#include <initializer_list>

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "core/error.h"

namespace lineage::chat::jinja {

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (peek().type != Tok::End) {
      // parse_body stopped at a block tag nobody opened.
      error(peek(1).line, "unexpected '" + peek(1).text + "' (no open block to close)");
    }
    return body;
  }

 private:
  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  std::vector<Stmt*> macros_;  // macros being parsed, innermost last

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser, int line) : p(parser) {
      if (++p.depth_ > kMaxParseDepth) fail("line ", line, ": nesting deeper than ", kMaxParseDepth, " levels");
    }
    ~DepthGuard() { --p.depth_; }
  };

  [[noreturn]] void error(int line, const std::string& what) { fail("line ", line, ": ", what); }

  const Token& peek(size_t ahead = 0) const {
    size_t k = p_ + ahead;
    return k < t_.size() ? t_[k] : t_.back();
  }
  const Token& next() {
    const Token& tok = peek();
    if (p_ < t_.size() - 1) ++p_;
    return tok;
  }
  bool at_op(const char* op) const { return peek().type == Tok::Op && peek().text == op; }
  bool at_name(const char* name) const { return peek().type == Tok::Name && peek().text == name; }
  bool accept_op(const char* op) {
    if (!at_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(const char* name) {
    if (!at_name(name)) return false;
    next();
    return true;
  }
  static std::string describe(const Token& tok) {
    switch (tok.type) {
      case Tok::End: return "end of template";
      case Tok::Text: return "text";
      case Tok::BlockEnd: return "'%}'";
      case Tok::VarEnd: return "'}}'";
      case Tok::String: return "string '" + tok.text + "'";
      default: return "'" + tok.text + "'";
    }
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) error(peek().line, std::string("expected '") + op + "', got " + describe(peek()));
  }
  std::string expect_name(const char* what) {
    if (peek().type != Tok::Name) error(peek().line, std::string("expected ") + what + ", got " + describe(peek()));
    return next().text;
  }
  void expect_block_end() {
    if (peek().type != Tok::BlockEnd) error(peek().line, "expected '%}', got " + describe(peek()));
    next();
  }

  // ---- statements ----

  // Parses until a block tag whose keyword is in `stops` (left unconsumed:
  // the position is at its "{%") or the end of input.
  Body parse_body(std::initializer_list<const char*> stops) {
    Body body;
    for (;;) {
      const Token& tok = peek();
      if (tok.type == Tok::End) return body;
      if (tok.type == Tok::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->line = tok.line;
        s->text = tok.text;
        next();
        body.push_back(std::move(s));
      } else if (tok.type == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = tok.line;
        s->expr = parse_tuple(true);
        if (peek().type != Tok::VarEnd) error(peek().line, "expected '}}', got " + describe(peek()));
        next();
        body.push_back(std::move(s));
      } else if (tok.type == Tok::BlockBegin) {
        const Token& kw = peek(1);
        if (kw.type != Tok::Name) error(kw.line, "expected a statement name after '{%', got " + describe(kw));
        for (const char* stop : stops)
          if (kw.text == stop) return body;
        if (is_end_keyword(kw.text)) error(kw.line, "unexpected '" + kw.text + "'");
        next();
        next();
        body.push_back(parse_statement(kw.text, kw.line));
      } else {
        error(tok.line, "unexpected " + describe(tok));
      }
    }
  }

  static bool is_end_keyword(const std::string& k) {
    return k.rfind("end", 0) == 0 || k == "else" || k == "elif";
  }

  // Consumes "{% name" of a closing or middle tag; `opener` names what is open.
  void expect_tag(const char* name, const char* opener, int open_line) {
    if (peek().type == Tok::End)
      error(open_line, std::string("unterminated '") + opener + "' block (missing {% " + name + " %})");
    next();  // {%
    const Token& kw = next();
    if (kw.text != name) error(kw.line, std::string("expected '") + name + "', got '" + kw.text + "'");
  }

  StmtPtr parse_statement(const std::string& kw, int line) {
    DepthGuard guard(*this, line);
    auto s = std::make_unique<Stmt>();
    s->line = line;
    if (kw == "if") {
      s->kind = StmtKind::If;
      ExprPtr cond = parse_tuple(true);
      expect_block_end();
      for (;;) {
        Body body = parse_body({"elif", "else", "endif"});
        if (peek().type == Tok::End) error(line, "unterminated 'if' block (missing {% endif %})");
        s->branches.emplace_back(std::move(cond), std::move(body));
        next();
        std::string which = next().text;
        if (which == "elif") {
          cond = parse_tuple(true);
          expect_block_end();
        } else if (which == "else") {
          expect_block_end();
          Body else_body = parse_body({"endif"});
          expect_tag("endif", "if", line);
          expect_block_end();
          s->branches.emplace_back(nullptr, std::move(else_body));
          break;
        } else {
          expect_block_end();
          break;
        }
      }
    } else if (kw == "for") {
      s->kind = StmtKind::For;
      do {
        s->targets.push_back(expect_name("a loop variable"));
      } while (accept_op(","));
      if (!accept_name("in")) error(peek().line, "expected 'in' in a for loop, got " + describe(peek()));
      s->expr = parse_tuple(false);
      if (accept_name("if")) s->cond = parse_expression(true);
      if (accept_name("recursive")) error(line, "recursive for loops are not supported");
      expect_block_end();
      s->body = parse_body({"else", "endfor"});
      if (peek().type != Tok::End && peek(1).text == "else") {
        next();
        next();
        expect_block_end();
        s->else_body = parse_body({"endfor"});
      }
      expect_tag("endfor", "for", line);
      expect_block_end();
    } else if (kw == "set") {
      std::string first = expect_name("a variable name");
      if (accept_op(".")) {
        s->kind = StmtKind::Set;
        s->targets.push_back(first);
        s->text = expect_name("an attribute name");
        expect_op("=");
        s->expr = parse_tuple(true);
        expect_block_end();
      } else {
        s->targets.push_back(first);
        while (accept_op(",")) s->targets.push_back(expect_name("a variable name"));
        if (accept_op("=")) {
          s->kind = StmtKind::Set;
          s->expr = parse_tuple(true);
          expect_block_end();
        } else {
          if (s->targets.size() != 1) error(line, "a block set assigns one variable");
          s->kind = StmtKind::SetBlock;
          if (accept_op("|")) s->expr = parse_filter_chain(nullptr, line);
          expect_block_end();
          s->body = parse_body({"endset"});
          expect_tag("endset", "set", line);
          expect_block_end();
        }
      }
    } else if (kw == "macro") {
      s->kind = StmtKind::Macro;
      s->text = expect_name("a macro name");
      parse_params(*s);
      expect_block_end();
      macros_.push_back(s.get());
      s->body = parse_body({"endmacro"});
      macros_.pop_back();
      expect_tag("endmacro", "macro", line);
      if (peek().type == Tok::Name) next();  // {% endmacro name %}
      expect_block_end();
    } else if (kw == "call") {
      s->kind = StmtKind::CallBlock;
      if (at_op("(")) parse_params(*s);
      s->expr = parse_expression(true);
      if (s->expr->kind != ExprKind::Call) error(line, "a call block needs a macro call");
      expect_block_end();
      macros_.push_back(s.get());
      s->body = parse_body({"endcall"});
      macros_.pop_back();
      expect_tag("endcall", "call", line);
      expect_block_end();
    } else if (kw == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->expr = parse_filter_chain(nullptr, line);
      expect_block_end();
      s->body = parse_body({"endfilter"});
      expect_tag("endfilter", "filter", line);
      expect_block_end();
    } else if (kw == "break" || kw == "continue") {
      s->kind = kw == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
    } else if (kw == "do") {
      s->kind = StmtKind::Do;
      s->expr = parse_tuple(true);
      expect_block_end();
    } else if (kw == "generation") {
      // transformers' marker for assistant tokens; it renders its body.
      s->kind = StmtKind::Scope;
      expect_block_end();
      s->body = parse_body({"endgeneration"});
      expect_tag("endgeneration", "generation", line);
      expect_block_end();
    } else {
      error(line, "unknown or unsupported statement '" + kw + "'");
    }
    return s;
  }

  void parse_params(Stmt& s) {
    expect_op("(");
    while (!at_op(")")) {
      Param p;
      p.name = expect_name("a parameter name");
      if (accept_op("=")) p.default_value = parse_expression(true);
      s.params.push_back(std::move(p));
      if (!accept_op(",")) break;
    }
    expect_op(")");
  }

  // ---- expressions ----

  ExprPtr make(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  ExprPtr parse_tuple(bool with_cond) {
    int line = peek().line;
    ExprPtr first = parse_expression(with_cond);
    if (!at_op(",")) return first;
    auto tuple = make(ExprKind::Tuple, line);
    tuple->kids.push_back(std::move(first));
    while (accept_op(",")) {
      if (peek().type == Tok::BlockEnd || peek().type == Tok::VarEnd || at_op("=")) break;
      tuple->kids.push_back(parse_expression(with_cond));
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_cond) {
    DepthGuard guard(*this, peek().line);
    ExprPtr e = parse_or();
    if (!with_cond) return e;
    while (at_name("if")) {
      int line = next().line;
      auto c = make(ExprKind::Cond, line);
      c->kids.push_back(std::move(e));
      c->kids.push_back(parse_or());
      if (accept_name("else")) c->kids.push_back(parse_expression(true));
      else c->kids.push_back(nullptr);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(ExprKind kind, ExprPtr l, ExprPtr r, int line, BinOp op = BinOp::Add) {
    auto e = make(kind, line);
    e->op = op;
    e->kids.push_back(std::move(l));
    e->kids.push_back(std::move(r));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (at_name("or")) {
      int line = next().line;
      e = binary(ExprKind::Or, std::move(e), parse_and(), line);
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (at_name("and")) {
      int line = next().line;
      e = binary(ExprKind::And, std::move(e), parse_not(), line);
    }
    return e;
  }
  ExprPtr parse_not() {
    if (at_name("not")) {
      DepthGuard guard(*this, peek().line);
      auto e = make(ExprKind::Not, next().line);
      e->kids.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    for (;;) {
      int line = peek().line;
      BinOp op;
      if (at_op("==")) op = BinOp::Eq;
      else if (at_op("!=")) op = BinOp::Ne;
      else if (at_op("<")) op = BinOp::Lt;
      else if (at_op("<=")) op = BinOp::Le;
      else if (at_op(">")) op = BinOp::Gt;
      else if (at_op(">=")) op = BinOp::Ge;
      else if (at_name("in")) op = BinOp::In;
      else if (at_name("not") && peek(1).type == Tok::Name && peek(1).text == "in") {
        next();
        op = BinOp::NotIn;
      } else break;
      next();
      e = binary(ExprKind::Binary, std::move(e), parse_math1(), line, op);
    }
    return e;
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& t = next();
      e = binary(ExprKind::Binary, std::move(e), parse_concat(), t.line, t.text == "+" ? BinOp::Add : BinOp::Sub);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (at_op("~")) {
      int line = next().line;
      e = binary(ExprKind::Binary, std::move(e), parse_math2(), line, BinOp::Concat);
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& t = next();
      BinOp op = t.text == "*" ? BinOp::Mul : t.text == "/" ? BinOp::Div : t.text == "//" ? BinOp::FloorDiv : BinOp::Mod;
      e = binary(ExprKind::Binary, std::move(e), parse_pow(), t.line, op);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (at_op("**")) {
      int line = next().line;
      e = binary(ExprKind::Binary, std::move(e), parse_unary(true), line, BinOp::Pow);
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this, peek().line);
    ExprPtr e;
    if (at_op("-") || at_op("+")) {
      const Token& t = next();
      e = make(t.text == "-" ? ExprKind::Neg : ExprKind::Pos, t.line);
      e->kids.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters_and_tests(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    int line = t.line;
    switch (t.type) {
      case Tok::Name: {
        next();
        const std::string& n = t.text;
        if (n == "true" || n == "True") return literal(Value::boolean(true), line);
        if (n == "false" || n == "False") return literal(Value::boolean(false), line);
        if (n == "none" || n == "None") return literal(Value::none(), line);
        if (!macros_.empty()) {
          if (n == "kwargs") macros_.back()->uses_kwargs = true;
          if (n == "varargs") macros_.back()->uses_varargs = true;
          if (n == "caller") macros_.back()->uses_caller = true;
        }
        auto e = make(ExprKind::Name, line);
        e->name = n;
        return e;
      }
      case Tok::String: {
        std::string s;
        while (peek().type == Tok::String) s += next().text;  // adjacent literals join
        return literal(Value::string(std::move(s)), line);
      }
      case Tok::Int: {
        next();
        int64_t v = 0;
        auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
        if (r.ec != std::errc()) error(line, "integer literal " + t.text + " is too large");
        return literal(Value::integer(v), line);
      }
      case Tok::Float: {
        next();
        return literal(Value::real(std::strtod(t.text.c_str(), nullptr)), line);
      }
      case Tok::Op: {
        if (t.text == "(") {
          next();
          if (accept_op(")")) return make(ExprKind::Tuple, line);
          ExprPtr first = parse_expression(true);
          if (accept_op(")")) return first;
          auto tuple = make(ExprKind::Tuple, line);
          tuple->kids.push_back(std::move(first));
          while (accept_op(",")) {
            if (at_op(")")) break;
            tuple->kids.push_back(parse_expression(true));
          }
          expect_op(")");
          return tuple;
        }
        if (t.text == "[") {
          next();
          auto list = make(ExprKind::List, line);
          while (!at_op("]")) {
            list->kids.push_back(parse_expression(true));
            if (!accept_op(",")) break;
          }
          expect_op("]");
          return list;
        }
        if (t.text == "{") {
          next();
          auto dict = make(ExprKind::Dict, line);
          while (!at_op("}")) {
            dict->kids.push_back(parse_expression(true));
            expect_op(":");
            dict->kids.push_back(parse_expression(true));
            if (!accept_op(",")) break;
          }
          expect_op("}");
          return dict;
        }
        break;
      }
      default: break;
    }
    error(line, "unexpected " + describe(t) + " in an expression");
  }

  ExprPtr literal(Value v, int line) {
    auto e = make(ExprKind::Literal, line);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      int line = peek().line;
      if (accept_op(".")) {
        const Token& t = next();
        if (t.type == Tok::Int) {
          auto idx = make(ExprKind::Index, line);
          idx->kids.push_back(std::move(e));
          idx->kids.push_back(literal(Value::integer(std::atoll(t.text.c_str())), line));
          e = std::move(idx);
        } else if (t.type == Tok::Name) {
          auto a = make(ExprKind::Attr, line);
          a->name = t.text;
          a->kids.push_back(std::move(e));
          e = std::move(a);
        } else {
          error(line, "expected an attribute name after '.', got " + describe(t));
        }
      } else if (accept_op("[")) {
        e = parse_subscript(std::move(e), line);
      } else if (at_op("(")) {
        auto call = make(ExprKind::Call, line);
        call->kids.push_back(std::move(e));
        parse_call_args(*call);
        e = std::move(call);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3];
    bool slice = false;
    int n = 0;
    for (;;) {
      if (!at_op(":") && !at_op("]")) parts[n] = parse_expression(true);
      if (at_op(":") && n < 2) {
        next();
        slice = true;
        ++n;
        continue;
      }
      break;
    }
    expect_op("]");
    if (!slice) {
      if (!parts[0]) error(line, "empty subscript");
      auto e = make(ExprKind::Index, line);
      e->kids.push_back(std::move(obj));
      e->kids.push_back(std::move(parts[0]));
      return e;
    }
    auto e = make(ExprKind::Slice, line);
    e->kids.push_back(std::move(obj));
    for (auto& p : parts) e->kids.push_back(std::move(p));
    return e;
  }

  // "(" args ")" appended to e.kids (after the subject), keywords last.
  void parse_call_args(Expr& e) {
    expect_op("(");
    std::vector<ExprPtr> kw_values;
    while (!at_op(")")) {
      if (peek().type == Tok::Name && peek(1).type == Tok::Op && peek(1).text == "=") {
        e.kw_names.push_back(next().text);
        next();
        kw_values.push_back(parse_expression(true));
      } else {
        if (!kw_values.empty()) error(peek().line, "positional argument after a keyword argument");
        e.kids.push_back(parse_expression(true));
      }
      if (!accept_op(",")) break;
    }
    expect_op(")");
    for (auto& v : kw_values) e.kids.push_back(std::move(v));
  }

  // After "|": name[(args)] [| name[(args)]]...; operand null for filter blocks.
  ExprPtr parse_filter_chain(ExprPtr operand, int line) {
    for (;;) {
      auto f = make(ExprKind::Filter, peek().line);
      f->name = expect_name("a filter name");
      while (at_op(".") && peek(1).type == Tok::Name) {
        next();
        f->name += "." + next().text;
      }
      f->filter = find_filter(f->name);
      if (!f->filter) error(f->line, "unknown filter '" + f->name + "'");
      f->kids.push_back(std::move(operand));
      if (at_op("(")) parse_call_args(*f);
      operand = std::move(f);
      if (!accept_op("|")) return operand;
    }
  }

  ExprPtr parse_filters_and_tests(ExprPtr e) {
    for (;;) {
      int line = peek().line;
      if (accept_op("|")) {
        e = parse_filter_chain(std::move(e), line);
        e = parse_postfix(std::move(e));
      } else if (accept_name("is")) {
        auto t = make(ExprKind::Test, line);
        t->negate = accept_name("not");
        t->name = expect_name("a test name");
        t->test = find_test(t->name);
        if (!t->test) error(line, "unknown test '" + t->name + "'");
        t->kids.push_back(std::move(e));
        if (at_op("(")) {
          parse_call_args(*t);
        } else if (takes_bare_argument()) {
          t->kids.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  // Jinja lets a test take one argument without parentheses: `is sameas none`.
  bool takes_bare_argument() const {
    const Token& t = peek();
    if (t.type == Tok::String || t.type == Tok::Int || t.type == Tok::Float) return true;
    if (t.type == Tok::Op) return t.text == "[" || t.text == "{";
    if (t.type != Tok::Name) return false;
    static const char* const stop[] = {"else", "or", "and", "if", "in", "is", "not", "recursive"};
    for (const char* s : stop)
      if (t.text == s) return false;
    return true;
  }
};

}  // namespace

Body parse_template(std::string_view source) { return Parser(lex(source)).parse_all(); }

}  // namespace lineage::chat::jinja
