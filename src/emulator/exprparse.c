/*
 * The expression language of Image.expression (Image.parseExpression):
 * a recursive-descent parser into a small tree, and its evaluation into
 * image values by calling the same algorithms a graph would (Image.add,
 * Image.select, ...), so band matching, types and masks are theirs.
 *
 * Grammar, lowest precedence first (JavaScript's order; EE's guide lists
 * the operators, not their precedence):
 *   top      = [name "="] ternary
 *   ternary  = or ["?" ternary ":" ternary]
 *   or       = and {"||" and}
 *   and      = xor {"&&" xor}
 *   xor      = eq {"^" eq}                       logical exclusive or
 *   eq       = rel {("==" | "!=") rel}
 *   rel      = add {("<" | "<=" | ">" | ">=") add}
 *   add      = mul {("+" | "-") mul}
 *   mul      = unary {("*" | "/" | "%") unary}
 *   unary    = ("-" | "+" | "!") unary | power
 *   power    = postfix ["**" unary]              right associative
 *   postfix  = primary {"." name | "[" args "]"}
 *   primary  = number | string | name ["(" args ")"] | "(" ternary ")"
 */
#include "emulator/eval_int.h"
#include "emulator/pixelops.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NOMEM() err_set(e, ERR_NOMEM, "out of memory")
/* Bounds that keep a hostile text from exhausting the stack or memory. */
#define EXPR_MAX_DEPTH 200
#define EXPR_MAX_LEN 20000
#define EXPR_MAX_ARGS 64

enum ex_kind { EX_NUM, EX_STR, EX_VAR, EX_CALL, EX_UNARY, EX_BINARY, EX_TERNARY, EX_MEMBER,
               EX_INDEX, EX_ASSIGN };

/* Two-character operators get codes above the character range. */
enum { OP_EQ = 256, OP_NE, OP_LE, OP_GE, OP_AND, OP_OR, OP_POW };

struct expr_ast {
    enum ex_kind kind;
    int op;
    double num;
    int is_float;                  /* a literal with a fraction or exponent */
    const char *name;              /* VAR, CALL, MEMBER, ASSIGN, STR */
    struct expr_ast **args;        /* operands / call arguments */
    int nargs;
    int pos;                       /* character offset, for errors */
};

struct parser {
    struct ev_ctx *x;
    const char *s;
    int pos, depth;
    struct errbuf *e;
};

static int syntax(struct parser *p, const char *what)
{
    return err_set(p->e, ERR_USAGE, "Image.parseExpression: Syntax error at character %d of "
                   "'%.200s': %s.", p->pos + 1, p->s, what);
}

static void skip_space(struct parser *p)
{
    while (p->s[p->pos] && isspace((unsigned char)p->s[p->pos]))
        p->pos++;
}

/* The operator at the cursor (two-character ones first), or 0. */
static int peek_op(struct parser *p, int *len)
{
    const char *c;
    static const struct { const char *t; int op; } two[] = {
        {"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE}, {">=", OP_GE}, {"&&", OP_AND},
        {"||", OP_OR}, {"**", OP_POW},
    };
    size_t i;
    skip_space(p);
    c = p->s + p->pos;
    for (i = 0; i < sizeof two / sizeof *two; i++)
        if (c[0] == two[i].t[0] && c[1] == two[i].t[1]) {
            *len = 2;
            return two[i].op;
        }
    *len = 1;
    return strchr("+-*/%<>!?:^()[].,=", c[0]) && c[0] ? c[0] : 0;
}

static int accept(struct parser *p, int op)
{
    int len, got = peek_op(p, &len);
    if (got != op)
        return 0;
    p->pos += len;
    return 1;
}

static struct expr_ast *node(struct parser *p, enum ex_kind k, int nargs)
{
    struct expr_ast *n = eval_alloc(p->x, sizeof *n);
    if (!n)
        return NULL;
    n->kind = k;
    n->pos = p->pos;
    n->nargs = nargs;
    if (nargs && !(n->args = eval_alloc(p->x, sizeof *n->args * (size_t)nargs)))
        return NULL;
    return n;
}

static int parse_ternary(struct parser *p, struct expr_ast **out);

static int binary(struct parser *p, int op, struct expr_ast *l, struct expr_ast *r,
                  struct expr_ast **out)
{
    struct expr_ast *n = node(p, EX_BINARY, 2);
    if (!n)
        return err_set(p->e, ERR_NOMEM, "out of memory");
    n->op = op;
    n->args[0] = l;
    n->args[1] = r;
    *out = n;
    return 0;
}

/* "(" already read: arguments up to the closing c. */
static int parse_args(struct parser *p, int close, struct expr_ast *n)
{
    struct expr_ast *args[EXPR_MAX_ARGS];
    int rc, k = 0;
    if (!accept(p, close)) {
        do {
            if (k == EXPR_MAX_ARGS)
                return syntax(p, "too many arguments");
            if ((rc = parse_ternary(p, &args[k++])))
                return rc;
        } while (accept(p, ','));
        if (!accept(p, close))
            return syntax(p, close == ')' ? "expected ')'" : "expected ']'");
    }
    n->nargs = k;
    if (k && !(n->args = eval_alloc(p->x, sizeof *n->args * (size_t)k)))
        return err_set(p->e, ERR_NOMEM, "out of memory");
    memcpy(n->args, args, sizeof *args * (size_t)k);
    return 0;
}

static int parse_name(struct parser *p, const char **out)
{
    int start = p->pos;
    char *s;
    while (isalnum((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_')
        p->pos++;
    if (!(s = eval_alloc(p->x, (size_t)(p->pos - start) + 1)))
        return err_set(p->e, ERR_NOMEM, "out of memory");
    memcpy(s, p->s + start, (size_t)(p->pos - start));
    *out = s;
    return 0;
}

static int parse_primary(struct parser *p, struct expr_ast **out)
{
    const char *c;
    struct expr_ast *n;
    int rc;
    skip_space(p);
    c = p->s + p->pos;
    if (isdigit((unsigned char)c[0]) || (c[0] == '.' && isdigit((unsigned char)c[1]))) {
        char *end;
        double v = strtod(c, &end);
        if (!(n = node(p, EX_NUM, 0)))
            return err_set(p->e, ERR_NOMEM, "out of memory");
        n->num = v;
        n->is_float = strcspn(c, ".eE") < (size_t)(end - c);
        p->pos += (int)(end - c);
        if (isalpha((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_')
            return syntax(p, "unexpected character after a number");
        *out = n;
        return 0;
    }
    if (c[0] == '\'' || c[0] == '"') {
        const char *q = strchr(c + 1, c[0]);
        char *s;
        if (!q)
            return syntax(p, "unterminated string");
        if (!(n = node(p, EX_STR, 0)) || !(s = eval_alloc(p->x, (size_t)(q - c))))
            return err_set(p->e, ERR_NOMEM, "out of memory");
        memcpy(s, c + 1, (size_t)(q - c - 1));
        n->name = s;
        p->pos += (int)(q - c) + 1;
        *out = n;
        return 0;
    }
    if (isalpha((unsigned char)c[0]) || c[0] == '_') {
        if (!(n = node(p, EX_VAR, 0)))
            return err_set(p->e, ERR_NOMEM, "out of memory");
        if ((rc = parse_name(p, &n->name)))
            return rc;
        if (accept(p, '(')) {
            n->kind = EX_CALL;
            if ((rc = parse_args(p, ')', n)))
                return rc;
        }
        *out = n;
        return 0;
    }
    if (accept(p, '(')) {
        if ((rc = parse_ternary(p, out)))
            return rc;
        return accept(p, ')') ? 0 : syntax(p, "expected ')'");
    }
    return syntax(p, c[0] ? "unexpected character" : "unexpected end of the expression");
}

static int parse_postfix(struct parser *p, struct expr_ast **out)
{
    int rc = parse_primary(p, out);
    while (rc == 0) {
        struct expr_ast *n;
        if (accept(p, '.')) {
            skip_space(p);
            if (!(isalpha((unsigned char)p->s[p->pos]) || p->s[p->pos] == '_'))
                return syntax(p, "expected a band name after '.'");
            if (!(n = node(p, EX_MEMBER, 1)))
                return err_set(p->e, ERR_NOMEM, "out of memory");
            n->args[0] = *out;
            if ((rc = parse_name(p, &n->name)))
                return rc;
            *out = n;
        } else if (accept(p, '[')) {
            if (!(n = node(p, EX_INDEX, 0)))
                return err_set(p->e, ERR_NOMEM, "out of memory");
            if ((rc = parse_args(p, ']', n)))
                return rc;
            n->name = NULL;
            /* The indexed value is kept in front of the selectors. */
            {
                struct expr_ast **args = eval_alloc(p->x, sizeof *args * (size_t)(n->nargs + 1));
                if (!args)
                    return err_set(p->e, ERR_NOMEM, "out of memory");
                args[0] = *out;
                if (n->nargs)
                    memcpy(args + 1, n->args, sizeof *args * (size_t)n->nargs);
                n->args = args;
                n->nargs++;
            }
            *out = n;
        } else {
            break;
        }
    }
    return rc;
}

static int parse_unary(struct parser *p, struct expr_ast **out);

static int parse_power(struct parser *p, struct expr_ast **out)
{
    struct expr_ast *r;
    int rc = parse_postfix(p, out);
    if (rc == 0 && accept(p, OP_POW)) {
        if ((rc = parse_unary(p, &r)))
            return rc;
        return binary(p, OP_POW, *out, r, out);
    }
    return rc;
}

static int parse_unary(struct parser *p, struct expr_ast **out)
{
    int len, op = peek_op(p, &len), rc;
    struct expr_ast *n;
    if (op != '-' && op != '+' && op != '!')
        return parse_power(p, out);
    if (++p->depth > EXPR_MAX_DEPTH)
        return syntax(p, "the expression is nested too deeply");
    p->pos += len;
    if (!(n = node(p, EX_UNARY, 1)))
        return err_set(p->e, ERR_NOMEM, "out of memory");
    n->op = op;
    if ((rc = parse_unary(p, &n->args[0])))
        return rc;
    p->depth--;
    *out = n;
    return 0;
}

/* One level of left-associative binary operators. */
static int parse_level(struct parser *p, int level, struct expr_ast **out)
{
    static const int ops[][5] = {
        {OP_OR}, {OP_AND}, {'^'}, {OP_EQ, OP_NE}, {'<', '>', OP_LE, OP_GE}, {'+', '-'},
        {'*', '/', '%'},
    };
    int rc, len, op, k;
    struct expr_ast *r;
    if (level == (int)(sizeof ops / sizeof *ops))
        return parse_unary(p, out);
    if ((rc = parse_level(p, level + 1, out)))
        return rc;
    for (;;) {
        op = peek_op(p, &len);
        for (k = 0; k < 5 && ops[level][k]; k++)
            if (ops[level][k] == op)
                break;
        if (k == 5 || !ops[level][k] || !op)
            return 0;
        p->pos += len;
        if ((rc = parse_level(p, level + 1, &r)) || (rc = binary(p, op, *out, r, out)))
            return rc;
    }
}

static int parse_ternary(struct parser *p, struct expr_ast **out)
{
    struct expr_ast *n;
    int rc;
    if (++p->depth > EXPR_MAX_DEPTH)
        return syntax(p, "the expression is nested too deeply");
    if ((rc = parse_level(p, 0, out)))
        return rc;
    if (accept(p, '?')) {
        if (!(n = node(p, EX_TERNARY, 3)))
            return err_set(p->e, ERR_NOMEM, "out of memory");
        n->args[0] = *out;
        if ((rc = parse_ternary(p, &n->args[1])))
            return rc;
        if (!accept(p, ':'))
            return syntax(p, "expected ':'");
        if ((rc = parse_ternary(p, &n->args[2])))
            return rc;
        *out = n;
    }
    p->depth--;
    return 0;
}

int expr_parse(struct ev_ctx *x, const char *text, struct expr_ast **out, struct errbuf *e)
{
    struct parser p = {x, text, 0, 0, e};
    struct expr_ast *n;
    int rc, save;

    if (strlen(text) > EXPR_MAX_LEN)
        return err_set(e, ERR_USAGE, "Image.parseExpression: The expression is longer than %d "
                       "characters.", EXPR_MAX_LEN);
    /* "name = expression" names the (single-band) result. */
    skip_space(&p);
    save = p.pos;
    if (isalpha((unsigned char)text[p.pos]) || text[p.pos] == '_') {
        const char *name;
        if ((rc = parse_name(&p, &name)))
            return rc;
        skip_space(&p);
        if (text[p.pos] == '=' && text[p.pos + 1] != '=') {
            p.pos++;
            if (!(n = node(&p, EX_ASSIGN, 1)))
                return NOMEM();
            n->name = name;
            if ((rc = parse_ternary(&p, &n->args[0])))
                return rc;
            *out = n;
            goto end;
        }
        p.pos = save;
    }
    if ((rc = parse_ternary(&p, out)))
        return rc;
end:
    skip_space(&p);
    if (text[p.pos])
        return syntax(&p, "unexpected text after the expression");
    return 0;
}

/* ------------------------------------------------------------ evaluation */

struct scope {
    const char *default_name;
    const char *const *names;
    struct ev_value **vals;
    int nvars, free_bands, depth;
};

static int eval_node(struct ev_ctx *x, const struct scope *sc, const struct expr_ast *n,
                     struct ev_value **out, struct errbuf *e);

static int image_of(struct ev_ctx *x, struct ev_value *v, struct ev_value **out,
                    struct errbuf *e)
{
    if (v->kind == EV_IMAGE) {
        *out = v;
        return 0;
    }
    if (v->kind == EV_NUM)
        return ev_invoke(x, "Image.constant", 0, out, e, "value", v, NULL);
    return err_set(e, ERR_USAGE, "Image.parseExpression: Expected an image, got %s.",
                   ev_type_name(v));
}

static struct ev_value *lookup(const struct scope *sc, const char *name)
{
    int i;
    for (i = 0; i < sc->nvars; i++)
        if (strcmp(sc->names[i], name) == 0)
            return sc->vals[i];
    return NULL;
}

/* img.select(selectors) where the selectors are expression nodes args[from..]. */
static int select_bands(struct ev_ctx *x, struct ev_value *img, const struct expr_ast *n,
                        int from, struct ev_value **out, struct errbuf *e)
{
    struct ev_value *list;
    int i;
    if (n->nargs - from == 0) {
        *out = img;
        return 0;
    }
    if (!(list = ev_list(x, n->nargs - from)))
        return NOMEM();
    for (i = from; i < n->nargs; i++) {
        const struct expr_ast *s = n->args[i];
        struct ev_value *v;
        if (s->kind == EX_STR)
            v = ev_str(x, s->name);
        else if (s->kind == EX_NUM && !s->is_float)
            v = ev_num(x, s->num);
        else
            return err_set(e, ERR_USAGE, "Image.parseExpression: A band is selected by a name "
                           "in quotes or an integer index (character %d).", s->pos + 1);
        if (!(list->items[i - from] = v))
            return NOMEM();
    }
    return ev_invoke(x, "Image.select", 0, out, e, "input", img, "bandSelectors", list, NULL);
}

static int all_int(const struct ev_value *v)
{
    int i;
    for (i = 0; i < v->img->nbands; i++)
        if (v->img->bands[i].dt.prec != EV_INT)
            return 0;
    return 1;
}

static int eval_binary(struct ev_ctx *x, const struct expr_ast *n, struct ev_value *a,
                       struct ev_value *b, struct ev_value **out, struct errbuf *e)
{
    const char *algo = NULL;
    switch (n->op) {
    case '+': algo = "Image.add"; break;
    case '-': algo = "Image.subtract"; break;
    case '*': algo = "Image.multiply"; break;
    case '%': algo = "Image.mod"; break;
    case OP_POW: algo = "Image.pow"; break;
    case '<': algo = "Image.lt"; break;
    case '>': algo = "Image.gt"; break;
    case OP_LE: algo = "Image.lte"; break;
    case OP_GE: algo = "Image.gte"; break;
    case OP_EQ: algo = "Image.eq"; break;
    case OP_NE: algo = "Image.neq"; break;
    case OP_AND: algo = "Image.and"; break;
    case OP_OR: algo = "Image.or"; break;
    case '^':
        return ev_image_math2(x, "Image.parseExpression", a, b, PX_XOR, out, e);
    case '/':
        /* EE's guide: "expression() uses floor division ... when two
         * integers are divided" (10 / 20 = 0). */
        if (all_int(a) && all_int(b))
            return ev_image_math2(x, "Image.parseExpression", a, b, PX_FLOORDIV, out, e);
        algo = "Image.divide";
        break;
    default:
        return err_set(e, ERR_INTERNAL, "unknown operator %d", n->op);
    }
    return ev_invoke(x, algo, 0, out, e, "image1", a, "image2", b, NULL);
}

/* Functions of the expression language: EE's Math subset plus casts. */
static const struct { const char *name, *algo; int nargs; } functions[] = {
    {"abs", "Image.abs", 1}, {"sqrt", "Image.sqrt", 1}, {"exp", "Image.exp", 1},
    {"log", "Image.log", 1}, {"log10", "Image.log10", 1}, {"floor", "Image.floor", 1},
    {"ceil", "Image.ceil", 1}, {"round", "Image.round", 1}, {"sin", "Image.sin", 1},
    {"cos", "Image.cos", 1}, {"tan", "Image.tan", 1}, {"asin", "Image.asin", 1},
    {"acos", "Image.acos", 1}, {"atan", "Image.atan", 1}, {"sinh", "Image.sinh", 1},
    {"cosh", "Image.cosh", 1}, {"tanh", "Image.tanh", 1}, {"cbrt", "Image.cbrt", 1},
    {"signum", "Image.signum", 1}, {"not", "Image.not", 1},
    {"min", "Image.min", 2}, {"max", "Image.max", 2}, {"pow", "Image.pow", 2},
    {"atan2", "Image.atan2", 2}, {"hypot", "Image.hypot", 2}, {"mod", "Image.mod", 2},
    {"float", "Image.toFloat", 1}, {"double", "Image.toDouble", 1},
    {"int", "Image.toInt", 1}, {"byte", "Image.toByte", 1}, {"short", "Image.toShort", 1},
    {"int8", "Image.toInt8", 1}, {"uint8", "Image.toUint8", 1},
    {"int16", "Image.toInt16", 1}, {"uint16", "Image.toUint16", 1},
    {"int32", "Image.toInt32", 1}, {"uint32", "Image.toUint32", 1},
};

static int eval_call(struct ev_ctx *x, const struct scope *sc, const struct expr_ast *n,
                     struct ev_value **out, struct errbuf *e)
{
    struct ev_value *a, *b;
    size_t i;
    int rc;
    if (strcmp(n->name, "b") == 0) {
        struct ev_value *img = lookup(sc, sc->default_name);
        if (!img || img->kind == EV_NULL)
            return err_set(e, ERR_USAGE, "Image.parseExpression: b() reads the image the "
                           "expression is called on, and there is none.");
        if ((rc = image_of(x, img, &img, e)))
            return rc;
        return select_bands(x, img, n, 0, out, e);
    }
    for (i = 0; i < sizeof functions / sizeof *functions; i++)
        if (strcmp(functions[i].name, n->name) == 0)
            break;
    if (i == sizeof functions / sizeof *functions)
        return err_set(e, ERR_USAGE, "Image.parseExpression: Unknown function '%s' (character "
                       "%d).", n->name, n->pos + 1);
    if (n->nargs != functions[i].nargs)
        return err_set(e, ERR_USAGE, "Image.parseExpression: %s() takes %d argument%s, got %d.",
                       n->name, functions[i].nargs, functions[i].nargs == 1 ? "" : "s",
                       n->nargs);
    if ((rc = eval_node(x, sc, n->args[0], &a, e)))
        return rc;
    if (functions[i].nargs == 1)
        return ev_invoke(x, functions[i].algo, 0, out, e, "value", a, NULL);
    if ((rc = eval_node(x, sc, n->args[1], &b, e)))
        return rc;
    return ev_invoke(x, functions[i].algo, 0, out, e, "image1", a, "image2", b, NULL);
}

static int eval_node(struct ev_ctx *x, const struct scope *sc, const struct expr_ast *n,
                     struct ev_value **out, struct errbuf *e)
{
    struct ev_value *a, *b, *c, *v;
    int rc;

    switch (n->kind) {
    case EX_NUM:
        if (!(v = ev_num(x, n->num)))
            return NOMEM();
        if ((rc = ev_invoke(x, "Image.constant", 0, out, e, "value", v, NULL)))
            return rc;
        /* "1.0" is a float even though its value is whole (10 * 1.0 / 20
         * is 0.5 in EE's guide). */
        return n->is_float ? ev_invoke(x, "Image.toFloat", 0, out, e, "value", *out, NULL) : 0;
    case EX_STR:
        return err_set(e, ERR_USAGE, "Image.parseExpression: The string '%s' (character %d) "
                       "can only name a band, in b() or [].", n->name, n->pos + 1);
    case EX_VAR:
        if ((v = lookup(sc, n->name)) && v->kind != EV_NULL)
            return image_of(x, v, out, e);
        if (sc->free_bands) {   /* mapFreeVarsToDefaultImageBands */
            struct ev_value *img = lookup(sc, sc->default_name), *sel;
            if (img && img->kind != EV_NULL) {
                if ((rc = image_of(x, img, &img, e)))
                    return rc;
                if (!(sel = ev_str(x, n->name)))
                    return NOMEM();
                return ev_invoke(x, "Image.select", 0, out, e, "input", img, "bandSelectors",
                                 sel, NULL);
            }
        }
        return err_set(e, ERR_USAGE, "Image.parseExpression: Variable '%s' is not defined: give "
                       "it in the map of images.", n->name);
    case EX_MEMBER:
        if (n->args[0]->kind == EX_VAR && strcmp(n->args[0]->name, "Math") == 0 &&
            !lookup(sc, "Math")) {
            double k = strcmp(n->name, "PI") == 0 ? 3.14159265358979323846 : strcmp(n->name, "E") == 0
                       ? 2.71828182845904523536 : 0;
            if (k == 0)
                return err_set(e, ERR_USAGE, "Image.parseExpression: Unknown constant Math.%s.",
                               n->name);
            if (!(v = ev_num(x, k)))
                return NOMEM();
            if ((rc = ev_invoke(x, "Image.constant", 0, out, e, "value", v, NULL)))
                return rc;
            return ev_invoke(x, "Image.toDouble", 0, out, e, "value", *out, NULL);
        }
        if ((rc = eval_node(x, sc, n->args[0], &a, e)))
            return rc;
        if (!(v = ev_list(x, 1)) || !(v->items[0] = ev_str(x, n->name)))
            return NOMEM();
        return ev_invoke(x, "Image.select", 0, out, e, "input", a, "bandSelectors", v, NULL);
    case EX_INDEX:
        if ((rc = eval_node(x, sc, n->args[0], &a, e)))
            return rc;
        return select_bands(x, a, n, 1, out, e);
    case EX_CALL:
        return eval_call(x, sc, n, out, e);
    case EX_UNARY:
        if ((rc = eval_node(x, sc, n->args[0], &a, e)))
            return rc;
        if (n->op == '+') {
            *out = a;
            return 0;
        }
        if (n->op == '!')
            return ev_invoke(x, "Image.not", 0, out, e, "value", a, NULL);
        if (!(v = ev_num(x, -1)))
            return NOMEM();
        return ev_invoke(x, "Image.multiply", 0, out, e, "image1", a, "image2", v, NULL);
    case EX_BINARY:
        if ((rc = eval_node(x, sc, n->args[0], &a, e)) ||
            (rc = eval_node(x, sc, n->args[1], &b, e)))
            return rc;
        return eval_binary(x, n, a, b, out, e);
    case EX_TERNARY:
        /* test ? value : input is input.where(test, value). */
        if ((rc = eval_node(x, sc, n->args[0], &a, e)) ||
            (rc = eval_node(x, sc, n->args[1], &b, e)) ||
            (rc = eval_node(x, sc, n->args[2], &c, e)))
            return rc;
        return ev_invoke(x, "Image.where", 0, out, e, "input", c, "test", a, "value", b, NULL);
    case EX_ASSIGN:
        if ((rc = eval_node(x, sc, n->args[0], &a, e)))
            return rc;
        if (a->img->nbands != 1)
            return err_set(e, ERR_USAGE, "Image.parseExpression: Only a single-band result can "
                           "be named '%s'; this one has %d bands.", n->name, a->img->nbands);
        if (!(v = ev_str(x, n->name)))
            return NOMEM();
        return ev_invoke(x, "Image.rename", 0, out, e, "input", a, "names", v, NULL);
    }
    return err_set(e, ERR_INTERNAL, "unknown expression node");
}

int expr_eval(struct ev_ctx *x, const struct expr_ast *ast, const char *default_name,
              const char *const *names, struct ev_value **vals, int nvars, int free_bands,
              int depth, struct ev_value **out, struct errbuf *e)
{
    struct scope sc = {default_name, names, vals, nvars, free_bands, depth};
    return eval_node(x, &sc, ast, out, e);
}
