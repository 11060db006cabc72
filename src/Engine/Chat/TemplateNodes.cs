namespace OpenAutoGlm.Engine.Chat;

/// <summary>Expression tree node; <see cref="Offset"/> locates it in the normalized source for error messages.</summary>
internal abstract record Expr(int Offset);
internal sealed record LiteralExpr(int Offset, object? Value) : Expr(Offset);
internal sealed record NameExpr(int Offset, string Name) : Expr(Offset);
internal sealed record ListExpr(int Offset, List<Expr> Items) : Expr(Offset);
internal sealed record DictExpr(int Offset, List<(Expr Key, Expr Value)> Pairs) : Expr(Offset);
internal sealed record AttributeExpr(int Offset, Expr Target, string Name) : Expr(Offset);
internal sealed record ItemExpr(int Offset, Expr Target, Expr Index) : Expr(Offset);
internal sealed record SliceExpr(int Offset, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Offset);
internal sealed record CallExpr(int Offset, Expr Callee, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Offset);
internal sealed record FilterExpr(int Offset, Expr Target, string Name, List<Expr> Args, List<(string Name, Expr Value)> Kwargs) : Expr(Offset);
internal sealed record TestExpr(int Offset, Expr Target, string Name, List<Expr> Args, bool Negated) : Expr(Offset);
internal sealed record UnaryExpr(int Offset, string Op, Expr Operand) : Expr(Offset);
internal sealed record BinaryExpr(int Offset, string Op, Expr Left, Expr Right) : Expr(Offset);
internal sealed record ConditionalExpr(int Offset, Expr Then, Expr Condition, Expr? Else) : Expr(Offset);

/// <summary>Statement node.</summary>
internal abstract record Stmt(int Offset);
internal sealed record TextStmt(int Offset, string Text) : Stmt(Offset);
internal sealed record OutputStmt(int Offset, Expr Value) : Stmt(Offset);
internal sealed record IfStmt(int Offset, List<(Expr Condition, List<Stmt> Body)> Branches, List<Stmt>? Else) : Stmt(Offset);
internal sealed record ForStmt(int Offset, List<string> Targets, Expr Iterable, Expr? Filter, List<Stmt> Body, List<Stmt>? Else) : Stmt(Offset);
/// <summary><c>set name = v</c>, <c>set a, b = v</c>, <c>set ns.attr = v</c> (<see cref="Attribute"/> set) or a <c>set name</c> block (<see cref="Body"/> set).</summary>
internal sealed record SetStmt(int Offset, List<string> Targets, string? Attribute, Expr? Value, List<Stmt>? Body) : Stmt(Offset);
internal sealed record MacroStmt(int Offset, string Name, List<(string Name, Expr? Default)> Parameters, List<Stmt> Body) : Stmt(Offset);
internal sealed record LoopControlStmt(int Offset, bool IsBreak) : Stmt(Offset);
